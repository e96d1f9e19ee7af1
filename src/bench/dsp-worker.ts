// A worker thread that takes one `bench dsp` figure alone in its isolate (see measureInWorker).
import { parentPort, workerData } from 'node:worker_threads';
import { type DspMeasurement, measureDsp } from './dsp.js';

parentPort?.postMessage(await measureDsp(workerData as DspMeasurement));
