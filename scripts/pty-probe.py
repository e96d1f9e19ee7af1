#!/usr/bin/env python3
"""Arrival-time probe for the replay bench: the instrument at the receiving end of a serial line.

Opens a pseudo-terminal, links its device at LINK (the replayer writes there, as it would to a
UART) and busy-polls the master side, so each read is timestamped when the bytes arrive rather than
when a sleeping process gets woken (several ms late at times on a small VM). Prints "ready", then,
once the line has been silent for IDLE seconds after the first byte, one JSON object:
{"reads": [[monotonic_ns, "hex bytes"], ...]}.

Usage: pty-probe.py LINK [IDLE_SECONDS]
"""
import json
import os
import pty
import sys
import time
import tty

link = sys.argv[1]
idle_s = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
master, slave = pty.openpty()  # the slave stays open here: the writer closing is not a hang-up
tty.setraw(slave)
if os.path.lexists(link):
    os.unlink(link)
os.symlink(os.ttyname(slave), link)
os.set_blocking(master, False)
try:  # where permitted, the probe itself is preempted less
    os.setpriority(os.PRIO_PROCESS, 0, -10)
except PermissionError:
    pass
print("ready", flush=True)

reads = []
last = None
try:
    while True:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            # A kernel worker due on this CPU (the pty's flush) runs now rather than at the next tick.
            os.sched_yield()
            if last is not None and time.monotonic_ns() - last > idle_s * 1e9:
                break
            continue
        last = time.monotonic_ns()
        reads.append([last, data.hex()])
finally:
    os.unlink(link)
print(json.dumps({"reads": reads}), flush=True)
