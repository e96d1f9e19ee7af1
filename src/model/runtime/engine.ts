import { Worker } from 'node:worker_threads';
import { workerEntry } from '../../paths.js';
import type { ModelPackage } from '../package/model-package.js';
import { contractOf, type GraphContract, mismatchError } from './contract.js';
import type { ProviderAttempt } from './session.js';
import type { FromWorker, WorkerInit } from './worker-protocol.js';

const NO_GATE = new Float32Array(0);

export interface InferenceResult {
  probabilities: Float32Array;
  /** Empty when the model has no gate output. */
  gate: Float32Array;
  /** Time inside session.run, ns. */
  inferenceNs: number;
  /** From `infer` to the result on the main thread, ns. */
  roundTripNs: number;
}

/**
 * What the engine needs of a model: its bytes, the two outputs it reads, and its contract (the
 * fixed input it is fed, and what the graph must hold).
 */
export interface RunnableModel {
  /** For messages: the package's folder. */
  source: string;
  onnx: Uint8Array;
  probabilities: string;
  /** The gate weights' output, or null when the model has none (an imported one). */
  gate: string | null;
  contract: GraphContract;
}

export const runnableOf = (pkg: ModelPackage): RunnableModel => ({
  source: pkg.dir,
  onnx: pkg.onnx,
  probabilities: pkg.manifest.outputs.probabilities,
  gate: pkg.manifest.outputs.gate ?? null,
  contract: contractOf(pkg.manifest),
});

export interface EngineOptions {
  providers: string[];
  threads: number;
  /** See SessionOptions.spinning. */
  spinning?: boolean;
  warmupRuns?: number;
}

/**
 * Runs a model package in a worker thread so inference never blocks the event loop. One inference
 * at a time: the caller awaits each result (the pipeline drops windows while the model is busy).
 */
export class InferenceEngine {
  readonly provider: string;
  readonly skipped: ProviderAttempt[];
  readonly warmupMs: number;
  private readonly worker: Worker;
  private readonly input: Float32Array;
  private readonly probabilitiesName: string;
  private readonly gateName: string | null;
  private nextId = 0;
  /** Settles (never rejects) when the inference in flight does; resolved when there is none. */
  private inFlight: Promise<void> = Promise.resolve();
  private pending: {
    id: number;
    start: bigint;
    resolve: (r: InferenceResult) => void;
    reject: (e: Error) => void;
  } | null = null;

  private constructor(
    worker: Worker,
    input: Float32Array,
    model: RunnableModel,
    ready: Extract<FromWorker, { type: 'ready' }>,
  ) {
    this.worker = worker;
    this.input = input;
    this.provider = ready.provider;
    this.skipped = ready.skipped;
    this.warmupMs = ready.warmupMs;
    this.probabilitiesName = model.probabilities;
    this.gateName = model.gate;
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`inference worker exited (code ${code})`)));
  }

  /** Starts the worker, opens the session with the first provider that works, warms up. */
  static async start(model: RunnableModel, options: EngineOptions): Promise<InferenceEngine> {
    const shared = new SharedArrayBuffer(4 * model.contract.inputShape.reduce((a, b) => a * b, 1));
    const init: WorkerInit = {
      onnx: model.onnx,
      providers: options.providers,
      threads: options.threads,
      spinning: options.spinning ?? false,
      outputs: model.gate === null ? [model.probabilities] : [model.probabilities, model.gate],
      contract: model.contract,
      input: shared,
      warmupRuns: options.warmupRuns ?? 2,
    };
    const worker = new Worker(workerEntry('inference-worker', import.meta.url), { workerData: init });
    type Ready = Extract<FromWorker, { type: 'ready' }>;
    let onMessage!: (msg: FromWorker) => void;
    let onError!: (err: Error) => void;
    let onExit!: (code: number) => void;
    const started = new Promise<Ready>((resolve, reject) => {
      onMessage = (msg) => {
        if (msg.type === 'ready') resolve(msg);
        else if (msg.type === 'error') reject(new Error(msg.message));
        else if (msg.type === 'mismatch') reject(mismatchError(model.source, msg.problems));
      };
      onError = reject;
      onExit = (code) => reject(new Error(`inference worker exited during start-up (code ${code})`));
    });
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    // Remove only our own listeners: Worker has internal ones, removeAllListeners breaks delivery.
    const ready = await started
      .catch(async (err: Error) => {
        await worker.terminate();
        throw err;
      })
      .finally(() => worker.off('message', onMessage).off('error', onError).off('exit', onExit));
    return new InferenceEngine(worker, new Float32Array(shared), model, ready);
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  /** How long the inference in flight has run, ms (0 when idle). */
  get runningMs(): number {
    return this.pending ? Number(process.hrtime.bigint() - this.pending.start) / 1e6 : 0;
  }

  /** Runs one window (copied at once: the caller may reuse its buffer). */
  infer(window: Float32Array): Promise<InferenceResult> {
    if (this.pending) return Promise.reject(new Error('inference already in flight'));
    if (window.length !== this.input.length) {
      return Promise.reject(
        new RangeError(`window has ${window.length} samples, the model takes ${this.input.length}`),
      );
    }
    this.input.set(window);
    const id = this.nextId++;
    const result = new Promise<InferenceResult>((resolve, reject) => {
      this.pending = { id, start: process.hrtime.bigint(), resolve, reject };
      this.worker.postMessage({ type: 'run', id });
    });
    this.inFlight = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  /**
   * Lets the inference in flight finish, then has the worker release its session and exit.
   * Terminating the worker under onnxruntime's native run or release aborts the whole process
   * ("terminate called after throwing an instance of 'Napi::Error'"), so termination is only the
   * way out for a worker that does not finish in time.
   */
  async close(timeoutMs = 5000): Promise<void> {
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const timeUp = () => new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([this.inFlight, exited, timeUp()]);
    this.worker.postMessage({ type: 'close' });
    await Promise.race([exited, timeUp()]);
    await this.worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    const p = this.pending;
    if (!p || m.type === 'ready' || m.type === 'mismatch' || m.id !== p.id) return;
    this.pending = null;
    if (m.type === 'result') {
      p.resolve({
        probabilities: m.outputs[this.probabilitiesName],
        gate: this.gateName === null ? NO_GATE : m.outputs[this.gateName],
        inferenceNs: m.inferenceNs,
        roundTripNs: Number(process.hrtime.bigint() - p.start),
      });
    } else if (m.type === 'error') {
      p.reject(new Error(m.message));
    }
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }
}
