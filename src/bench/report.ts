import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../paths.js';
import type { DspBenchResult } from './dsp.js';
import type { E2eResult } from './e2e.js';
import type { ModelBenchResult } from './model.js';
import { describeInt8Kernels } from '../model/runtime/int8-kernels.js';
import type { QuantizeBenchResult } from './quantize.js';
import type { ReplayBenchResult } from './replay.js';

export interface AllResults {
  dsp: DspBenchResult;
  model: ModelBenchResult;
  replay: ReplayBenchResult;
  e2e: E2eResult;
  quantize: QuantizeBenchResult;
}

const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');

/** The Markdown table docs/benchmarks.md is updated from. */
export function markdownTable(r: AllResults, when = new Date()): string {
  const chain = Object.entries(r.dsp.chainByInputRateHz)
    .map(([hz, v]) => `${f(v / 1e6)} M/s at ${hz} Hz`)
    .join(', ');
  const rows: [string, string, string][] = [
    ['cleaning cascade (`bench dsp`)', `${f(r.dsp.cascadeSamplesPerSecond / 1e6)} M samples/s`, '≥ 80 M'],
    ['full chain per input sample', chain, '≥ 30 M/s'],
    ['heap after 24 h of ECG minus after 1 h', `${f(r.dsp.heapGrowth1hTo24hBytes / 1024, 0)} KiB`, '≤ 1 MB'],
    [
      'shipped model, `session.run` p50 / p99',
      `${f(r.model.p50Ms)} / ${f(r.model.p99Ms)} ms (${r.model.precision}, ${r.model.provider})`,
      '',
    ],
    ['event-loop delay p99 during inference', `${f(r.model.eventLoopDelayP99Ms, 2)} ms`, '≤ 20 ms'],
    ['replay at 500 Hz, rate error at the line', `${f(r.replay.rateErrorPercent, 4)} %`, '≤ 0.01 %'],
    [
      `replay inter-frame jitter p99 at the line (pty probe; sender ${r.replay.sender.scheduling})`,
      `${f(r.replay.jitterP99Ms, 2)} ms`,
      '≤ 2 ms',
    ],
    [
      "the same through socat into the daemon's serial source",
      `${f(r.replay.atDaemonSource.jitterP99Ms, 2)} ms`,
      '',
    ],
    [
      'e2e event latency p50 / p99 (inference p99)',
      `${f(r.e2e.latencyP50Ms, 0)} / ${f(r.e2e.latencyP99Ms, 0)} ms (${f(r.e2e.inferenceP99Ms)} ms)`,
      'p99 ≤ inference p99 + 25 ms',
    ],
    [
      'e2e daemon CPU: all threads / outside inference (event-loop thread)',
      `${f(r.e2e.cpuPercent)} / ${f(r.e2e.outsideInferenceCpuPercent)} % (${f(r.e2e.mainThreadCpuPercent)} %) of a core`,
      '< 5 % outside inference',
    ],
    ['e2e daemon RSS', `${f(r.e2e.rssMb, 0)} MB`, '< 200 MB'],
    [
      `INT8 vs fp32 top-1 agreement on ${Object.keys(r.quantize.heldOut.records).length} recordings not calibrated on (${r.quantize.model}; near-ties apart)`,
      `${f(100 * r.quantize.heldOut.top1, 2)} % of ${r.quantize.heldOut.windows} (${f(100 * r.quantize.heldOut.decisiveTop1, 2)} % of the decisive); lowest recording ${f(100 * Math.min(...Object.values(r.quantize.heldOut.records).map((a) => a.top1)), 2)} %; largest probability difference ${f(r.quantize.heldOut.maxAbsProbabilityDiff, 4)}, on ${describeInt8Kernels(r.quantize.kernels)}`,
      '≥ 99 % each, ≤ 0.05',
    ],
    [
      'the same model, INT8 / fp32 median `session.run` (spinning)',
      `${f(r.quantize.int8P50Ms)} / ${f(r.quantize.fp32P50Ms)} ms (${f(r.quantize.speedRatio, 2)} x)`,
      '≤ 0.5 x at full size',
    ],
  ];
  return [
    `Measured by \`npm run bench\` on ${when.toISOString().slice(0, 10)}.`,
    '',
    '| what | figure | target |',
    '|---|---|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
  ].join('\n');
}

/** Writes bench/results.json and bench/results.md. */
export async function writeResults(r: AllResults): Promise<string> {
  const dir = join(PROJECT_ROOT, 'bench');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.json'), `${JSON.stringify(r, null, 2)}\n`);
  const md = markdownTable(r);
  await writeFile(join(dir, 'results.md'), md);
  return md;
}
