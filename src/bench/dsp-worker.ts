// A worker thread that holds one `bench dsp` figure's stage or chain alone in its isolate and
// times a run of it whenever asked (see DspBenchWorker).
import { parentPort, workerData } from 'node:worker_threads';
import { RecordError } from '../records/errors.js';
import { type DspMeasurement, type DspWorkerMessage, prepareDsp } from './dsp.js';

const port = parentPort;
if (port) {
  const reply = (msg: DspWorkerMessage) => port.postMessage(msg);
  try {
    const { run, rateHz } = await prepareDsp(workerData as DspMeasurement);
    port.on('message', (seconds: number) => reply({ type: 'run', samplesPerSecond: run(seconds) }));
    reply({ type: 'ready', rateHz });
  } catch (err) {
    // A bad record is the user's to fix (one line, exit code 4); anything else crashes the bench.
    if (!(err instanceof RecordError)) throw err;
    reply({ type: 'bad record', file: err.file, reason: err.reason, offset: err.offset });
  }
}
