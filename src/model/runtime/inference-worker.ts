import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { contractProblems } from './contract.js';
import { openSession } from './session.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

/**
 * Runs the model off the main thread: one session, one pre-allocated input tensor, fixed shape.
 * The main thread writes each window into the shared input buffer and sends `run`.
 */
const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

async function main(): Promise<void> {
  const { session, provider, skipped } = await openSession(init.onnx, {
    providers: init.providers,
    threads: init.threads,
    spinning: init.spinning,
  });
  const problems = contractProblems(session, init.contract);
  if (problems.length > 0) {
    await session.release();
    post({ type: 'mismatch', problems });
    return;
  }
  const shared = new Float32Array(init.input);
  const data = new Float32Array(shared.length);
  const feeds = { [init.contract.input]: new ort.Tensor('float32', data, init.contract.inputShape) };
  const t0 = performance.now();
  for (let i = 0; i < init.warmupRuns; i++) await session.run(feeds, init.outputs);
  post({ type: 'ready', provider, skipped, warmupMs: performance.now() - t0 });
  port.on('message', async (m: ToWorker) => {
    if (m.type === 'close') {
      await session.release();
      port.close();
      return;
    }
    try {
      data.set(shared);
      const start = process.hrtime.bigint();
      const result = await session.run(feeds, init.outputs);
      const inferenceNs = Number(process.hrtime.bigint() - start);
      const outputs: Record<string, Float32Array> = {};
      for (const name of init.outputs) outputs[name] = Float32Array.from(result[name].data as Float32Array);
      post({ type: 'result', id: m.id, outputs, inferenceNs });
    } catch (err) {
      post({ type: 'error', id: m.id, message: (err as Error).message });
    }
  });
}

main().catch((err: unknown) => post({ type: 'error', id: null, message: (err as Error).message }));
