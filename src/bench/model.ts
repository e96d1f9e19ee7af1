import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { decodeModel } from '../model/graph/onnx-edit.js';
import { loadModelPackage } from '../model/package/model-package.js';
import { InferenceEngine, type RunnableModel, runnableOf } from '../model/runtime/engine.js';
import { optimizedOpCounts } from '../model/runtime/optimized-ops.js';

export interface ModelBenchOptions {
  /** A model package directory. */
  model: string;
  /** Other models measured in the same run, interleaved: packages or bare .onnx files. */
  compare?: string[];
  threads?: number;
  runs?: number;
  warmup?: number;
  spinning?: boolean;
  providers?: string[];
  log?: (line: string) => void;
}

export interface ModelFigures {
  model: string;
  precision: string;
  provider: string;
  inputShape: number[];
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Worker round trip (postMessage, copy of outputs) on top of session.run. */
  roundTripP50Ms: number;
  /** Operators after onnxruntime's optimisation, for the ones that decide int8 speed. */
  qlinearMatMul: number;
  matMul: number;
}

export interface ModelBenchResult extends ModelFigures {
  threads: number;
  spinning: boolean;
  runs: number;
  /** Main-thread event-loop delay while inference ran back to back in the worker. */
  eventLoopDelayP99Ms: number;
  compare: (ModelFigures & { medianRatio: number })[];
}

/** A bare .onnx (e.g. PyTorch's export): first input, first two outputs, dynamic dims set to 1. */
async function bareOnnx(file: string): Promise<RunnableModel & { precision: string }> {
  const onnx = await readFile(file);
  const g = decodeModel(onnx).graph!;
  const input = g.input![0];
  const dims = input.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue ?? 1) || 1);
  const [probabilities, gate] = [g.output![0].name!, g.output![1].name!];
  return {
    source: file,
    onnx,
    probabilities,
    gate,
    contract: { input: input.name!, inputShape: dims, outputs: [probabilities, gate], classes: null },
    precision: 'fp32',
  };
}

async function open(path: string): Promise<RunnableModel & { precision: string }> {
  if (path.endsWith('.onnx')) return bareOnnx(path);
  const pkg = await loadModelPackage(path);
  return { ...runnableOf(pkg), precision: pkg.manifest.precision };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * Latency of models in a worker thread, run back to back, with the main loop's delay meanwhile.
 * One engine is alive at a time (another session's idle threads would skew it), and models take
 * turns in two rounds (A B A B) so that drift of the machine touches them alike.
 */
export async function runModelBench(o: ModelBenchOptions): Promise<ModelBenchResult> {
  const log = o.log ?? (() => {});
  const threads = o.threads ?? 2;
  const runs = o.runs ?? 40;
  const spinning = o.spinning ?? false;
  const paths = [o.model, ...(o.compare ?? [])];
  const models = await Promise.all(paths.map(open));
  const times = models.map(() => [] as number[]);
  const trips = models.map(() => [] as number[]);
  const providers = models.map(() => '');
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const rounds = 2;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < models.length; k++) {
      const m = models[k];
      const engine = await InferenceEngine.start(m, {
        providers: o.providers ?? ['cpu'],
        threads,
        spinning,
        warmupRuns: o.warmup ?? 3,
      });
      providers[k] = engine.provider;
      const x = new Float32Array(m.contract.inputShape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i / 20) + 0.1 * Math.sin(i / 3);
      delay.enable();
      try {
        for (let r = 0; r < Math.ceil(runs / rounds); r++) {
          const res = await engine.infer(x);
          times[k].push(res.inferenceNs / 1e6);
          trips[k].push(res.roundTripNs / 1e6);
        }
      } finally {
        delay.disable();
        await engine.close();
      }
    }
  }
  const figures: ModelFigures[] = [];
  for (let k = 0; k < models.length; k++) {
    const sorted = [...times[k]].sort((a, b) => a - b);
    const ops = await optimizedOpCounts(models[k].onnx);
    const f: ModelFigures = {
      model: paths[k],
      precision: models[k].precision,
      provider: providers[k],
      inputShape: models[k].contract.inputShape,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
      roundTripP50Ms: percentile(
        [...trips[k]].sort((a, b) => a - b),
        50,
      ),
      qlinearMatMul: ops.QLinearMatMul ?? 0,
      matMul: (ops.MatMul ?? 0) + (ops.FusedMatMul ?? 0),
    };
    figures.push(f);
    log(
      `${f.model}: ${f.precision} on ${f.provider}, input [${f.inputShape}], p50 ${f.p50Ms.toFixed(1)} ms, ` +
        `p99 ${f.p99Ms.toFixed(1)} ms, worker round trip p50 ${f.roundTripP50Ms.toFixed(1)} ms ` +
        `(QLinearMatMul ${f.qlinearMatMul}, float MatMul ${f.matMul})`,
    );
  }
  const eventLoopDelayP99Ms = delay.percentile(99) / 1e6;
  log(
    `event-loop delay p99 while inferring: ${eventLoopDelayP99Ms.toFixed(2)} ms (threads ${threads}, ` +
      `spinning ${spinning ? 'on' : 'off'}, ${times[0].length} runs each)`,
  );
  const [main, ...rest] = figures;
  const compare = rest.map((f) => ({ ...f, medianRatio: main.p50Ms / f.p50Ms }));
  for (const c of compare) log(`median ratio ${main.model} / ${c.model} = ${c.medianRatio.toFixed(3)}`);
  return { ...main, threads, spinning, runs: times[0].length, eventLoopDelayP99Ms, compare };
}
