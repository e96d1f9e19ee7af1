#!/usr/bin/env python3
"""Prints the scipy.signal reference coefficients that test/filter-design.test.ts compares against.

Run with any Python that has scipy (Debian: apt-get install python3-scipy).
"""
import numpy as np
import scipy
import scipy.signal as s

np.set_printoptions(precision=17, floatmode="unique")
print("scipy", scipy.__version__)
print("butter(2, 0.5, highpass, fs=500)", s.butter(2, 0.5, "highpass", fs=500, output="sos").tolist())
print("butter(4, 40, lowpass, fs=500)", s.butter(4, 40, "lowpass", fs=500, output="sos").tolist())
print("butter(4, 40, lowpass, fs=360)", s.butter(4, 40, "lowpass", fs=360, output="sos").tolist())
print("iirnotch(50, 30, fs=500)", [c.tolist() for c in s.iirnotch(50, 30, fs=500)])
print("iirnotch(60, 30, fs=500)", [c.tolist() for c in s.iirnotch(60, 30, fs=500)])
print("butter(2, [5, 15], bandpass, fs=500)", s.butter(2, [5, 15], "bandpass", fs=500, output="sos").tolist())
