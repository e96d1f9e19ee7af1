import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDataDir } from '../analysis/data-dir.js';
import { ptyPair } from '../hil/pty-pair.js';
import type { ReplayResult } from '../hil/replay.js';
import { SerialSource } from '../sources/serial-source.js';
import { percentileOfSorted } from '../percentile.js';

export interface ReplayBenchResult {
  seconds: number;
  sampleRateHz: number;
  /** At the receiving end: the least-squares slope of samples over arrival time. */
  receivedRateHz: number;
  rateErrorPercent: number;
  /** |arrival interval − frame period| at the receiver, ms. */
  jitterP50Ms: number;
  jitterP99Ms: number;
  jitterMaxMs: number;
  sender: ReplayResult;
}

export const BENCH_FRAME_SAMPLES = 10;

/**
 * `ecg-emotiond replay` in its own process, as on a bench: EEGMAT's 500 Hz ECG channel in real time
 * with ecg-serial frames, onto one end of a pty. Stdout carries its JSON summary.
 */
export function spawnRealtimeReplay(
  to: string,
  seconds: number,
  frameSamples = BENCH_FRAME_SAMPLES,
): ChildProcessWithoutNullStreams {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const record = join(sharedDataDir(), 'eegmat', 'Subject00_1.edf');
  return spawn(process.execPath, [
    cli,
    'replay',
    record,
    '--channel',
    'ECG ECG',
    '--to',
    `serial:${to}`,
    '--to-seconds',
    String(seconds),
    '--frame-samples',
    String(frameSamples),
    '--json',
  ]);
}

/**
 * Real-time replay pacing, measured where it matters: `ecg-emotiond replay` (its own process, as on
 * a bench) sends a 500 Hz record (EEGMAT's ECG channel) with ecg-serial in 10-sample frames over a
 * socat pty pair; this process receives it with the daemon's serial source and times the frames.
 */
export async function runReplayBench(
  o: { seconds?: number; log?: (l: string) => void } = {},
): Promise<ReplayBenchResult> {
  const seconds = o.seconds ?? 60;
  const dir = await mkdtemp(join(tmpdir(), 'ecg-bench-replay-'));
  const pty = await ptyPair(dir);
  const source = new SerialSource({ path: pty.b, baudRate: 115200, protocol: 'ecg-serial' });
  const arrivals: bigint[] = [];
  let samples = 0;
  source.onFrame = (f, at) => {
    arrivals.push(at);
    samples += f.samples.length;
  };
  source.start();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const frame = BENCH_FRAME_SAMPLES;
    const child = spawnRealtimeReplay(pty.a, seconds, frame);
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    const code = await new Promise((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`replay exited with ${code}`);
    const sender = JSON.parse(out) as ReplayResult;
    await new Promise((r) => setTimeout(r, 300));
    const rate = sender.targetRateHz;
    // Mean rate: least-squares slope of arrival time over sample index (robust to the jitter of
    // the first and last frame, which a two-point estimate takes in full).
    const xs = arrivals.map((_, k) => k * frame);
    const ys = arrivals.map((t) => Number(t - arrivals[0]) / 1e9);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    let sxy = 0;
    let sxx = 0;
    for (let k = 0; k < xs.length; k++) {
      sxy += (xs[k] - mx) * (ys[k] - my);
      sxx += (xs[k] - mx) ** 2;
    }
    const receivedRateHz = sxx / sxy;
    const period = (frame / rate) * 1e3;
    const jitter = arrivals
      .slice(1)
      .map((t, i) => Math.abs(Number(t - arrivals[i]) / 1e6 - period))
      .sort((a, b) => a - b);
    const p = (q: number) => percentileOfSorted(jitter, q);
    const result: ReplayBenchResult = {
      seconds,
      sampleRateHz: rate,
      receivedRateHz,
      rateErrorPercent: (100 * (receivedRateHz - rate)) / rate,
      jitterP50Ms: p(0.5),
      jitterP99Ms: p(0.99),
      jitterMaxMs: jitter.at(-1) ?? 0,
      sender,
    };
    o.log?.(
      `replay ${seconds} s at ${rate} Hz over a pty: received ${samples} samples, ${receivedRateHz.toFixed(4)} Hz ` +
        `(error ${result.rateErrorPercent.toFixed(5)} %); inter-frame jitter p50 ${result.jitterP50Ms.toFixed(3)} ms, ` +
        `p99 ${result.jitterP99Ms.toFixed(3)} ms, max ${result.jitterMaxMs.toFixed(3)} ms`,
    );
    return result;
  } finally {
    await source.stop();
    await pty.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
