import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDataDir } from '../paths.js';
import { ptyPair } from './harness/pty-pair.js';
import type { ReplayResult } from '../hil/replay.js';
import { EcgSerialDecoder } from '../protocols/ecg-serial.js';
import { SerialSource } from '../sources/serial-source.js';
import { percentileOfSorted } from '../percentile.js';

/** Pacing as one receiver saw it: frames timed on arrival. */
export interface PacingFigures {
  receivedSamples: number;
  /** The least-squares slope of samples over arrival time. */
  receivedRateHz: number;
  rateErrorPercent: number;
  /** |arrival interval − frame period|, ms. */
  jitterP50Ms: number;
  jitterP99Ms: number;
  jitterMaxMs: number;
}

export interface ReplayBenchResult extends PacingFigures {
  seconds: number;
  sampleRateHz: number;
  /** The replayer's own record of its lateness against each frame's deadline, and its scheduling. */
  sender: SenderSummary;
  /**
   * The same replay received by the daemon's serial source through a socat pty pair. Adds what the
   * line does not: socat's and the receiver's wake-up latency.
   */
  atDaemonSource: PacingFigures & { sender: SenderSummary };
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
  extraArgs: string[] = [],
): ChildProcessWithoutNullStreams {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const record = join(sharedDataDir(), 'eegmat', 'Subject00_1.edf');
  return spawn(process.execPath, [
    cli,
    'replay',
    record,
    '--channel',
    'ECG ECG',
    '--target',
    `serial:${to}`,
    '--to',
    String(seconds),
    '--frame-samples',
    String(frameSamples),
    '--json',
    ...extraArgs,
  ]);
}

/** Rate (least-squares slope: robust to the first and last frame's jitter) and jitter of frame arrivals. */
function pacingOf(arrivalsNs: bigint[], frameSamples: number, rateHz: number): PacingFigures {
  const xs = arrivalsNs.map((_, k) => k * frameSamples);
  const ys = arrivalsNs.map((t) => Number(t - arrivalsNs[0]) / 1e9);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let k = 0; k < xs.length; k++) {
    sxy += (xs[k] - mx) * (ys[k] - my);
    sxx += (xs[k] - mx) ** 2;
  }
  const receivedRateHz = sxx / sxy;
  const period = (frameSamples / rateHz) * 1e3;
  const jitter = arrivalsNs
    .slice(1)
    .map((t, i) => Math.abs(Number(t - arrivalsNs[i]) / 1e6 - period))
    .sort((a, b) => a - b);
  return {
    receivedSamples: arrivalsNs.length * frameSamples,
    receivedRateHz,
    rateErrorPercent: (100 * (receivedRateHz - rateHz)) / rateHz,
    jitterP50Ms: percentileOfSorted(jitter, 0.5),
    jitterP99Ms: percentileOfSorted(jitter, 0.99),
    jitterMaxMs: jitter.at(-1) ?? 0,
  };
}

/** The replayer's summary, with the scheduling it got ("SCHED_FIFO 50" or "normal"). */
export type SenderSummary = ReplayResult & { scheduling: string };

/** As a bench runs it: on a real-time thread (falls back to normal priority where not permitted). */
async function replayTo(path: string, seconds: number): Promise<SenderSummary> {
  const child = spawnRealtimeReplay(path, seconds, BENCH_FRAME_SAMPLES, ['--rt-priority', '50']);
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`replay exited with ${code}`);
  return JSON.parse(out) as SenderSummary;
}

/**
 * At the line: scripts/pty-probe.py holds a pseudo-terminal and busy-polls it, timing each read as
 * the bytes arrive (an instrument, as a logic analyser on a UART would be). The reads are decoded
 * with the daemon's ecg-serial decoder; a frame's arrival is that of the read that completed it.
 */
async function atLine(dir: string, seconds: number): Promise<{ arrivals: bigint[]; sender: SenderSummary }> {
  const link = join(dir, 'line');
  const probePath = fileURLToPath(new URL('../../scripts/pty-probe.py', import.meta.url));
  const probe = spawn('python3', [probePath, link, '1']);
  let out = '';
  probe.stdout.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((r) => probe.on('exit', r));
  let sender: SenderSummary;
  try {
    while (!out.startsWith('ready')) {
      if (probe.exitCode !== null) throw new Error('pty-probe.py did not start (is python3 installed?)');
      await new Promise((r) => setTimeout(r, 20));
    }
    sender = await replayTo(link, seconds);
  } catch (e) {
    probe.kill(); // it busy-polls until the line has carried data and fallen silent
    throw e;
  }
  if ((await exited) !== 0) throw new Error('pty-probe.py failed');
  const { reads } = JSON.parse(out.slice(out.indexOf('\n') + 1)) as { reads: [number, string][] };
  const decoder = new EcgSerialDecoder();
  const arrivals: bigint[] = [];
  let at = 0n;
  decoder.onFrame = () => arrivals.push(at);
  for (const [t, hex] of reads) {
    at = BigInt(t);
    decoder.push(Buffer.from(hex, 'hex'));
  }
  return { arrivals, sender };
}

/** Through socat into the daemon's serial source, which sleeps between reads as the daemon does. */
async function atDaemonSource(
  dir: string,
  seconds: number,
): Promise<{ arrivals: bigint[]; sender: SenderSummary }> {
  const pty = await ptyPair(dir);
  const source = new SerialSource({ path: pty.b, baudRate: 115200, protocol: 'ecg-serial' });
  const arrivals: bigint[] = [];
  source.onFrame = (_f, at) => arrivals.push(at);
  source.start();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const sender = await replayTo(pty.a, seconds);
    await new Promise((r) => setTimeout(r, 300));
    return { arrivals, sender };
  } finally {
    await source.stop();
    await pty.stop();
  }
}

/**
 * Real-time replay pacing at the receiving end: `ecg-emotiond replay` (its own process, as on a
 * bench) sends a 500 Hz record (EEGMAT's ECG channel) with ecg-serial in 10-sample frames, timed
 * once at the line and once by the daemon's serial source through socat.
 */
export async function runReplayBench(
  o: { seconds?: number; log?: (l: string) => void } = {},
): Promise<ReplayBenchResult> {
  const seconds = o.seconds ?? 60;
  const dir = await mkdtemp(join(tmpdir(), 'ecg-bench-replay-'));
  const describe = (where: string, s: SenderSummary, p: PacingFigures) =>
    o.log?.(
      `replay ${seconds} s at ${s.targetRateHz} Hz, ${where}: received ${p.receivedSamples} samples, ` +
        `${p.receivedRateHz.toFixed(4)} Hz (error ${p.rateErrorPercent.toFixed(5)} %); inter-frame jitter ` +
        `p50 ${p.jitterP50Ms.toFixed(3)} ms, p99 ${p.jitterP99Ms.toFixed(3)} ms, max ${p.jitterMaxMs.toFixed(3)} ms ` +
        `(sender at ${s.scheduling} priority: lateness p99 ${s.latenessP99Ms.toFixed(3)} ms)`,
    );
  try {
    const line = await atLine(dir, seconds);
    const rate = line.sender.targetRateHz;
    const atLinePacing = pacingOf(line.arrivals, BENCH_FRAME_SAMPLES, rate);
    describe('timed at the line (pty probe)', line.sender, atLinePacing);
    const daemon = await atDaemonSource(dir, seconds);
    const daemonPacing = pacingOf(daemon.arrivals, BENCH_FRAME_SAMPLES, rate);
    describe("timed by the daemon's serial source through socat", daemon.sender, daemonPacing);
    return {
      seconds,
      sampleRateHz: rate,
      ...atLinePacing,
      sender: line.sender,
      atDaemonSource: { ...daemonPacing, sender: daemon.sender },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
