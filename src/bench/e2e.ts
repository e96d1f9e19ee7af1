import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { DEMO_RECORD } from '../paths.js';
import { ptyPair } from './harness/pty-pair.js';
import { loadConfig } from '../config/load.js';
import { windowSpecOf } from '../model/package/model-package.js';
import { startModel } from '../model/runtime/load-model.js';
import { usableWindows } from '../model/train/labelled-windows.js';
import { createLogger } from '../log.js';
import { freePort, Mosquitto } from './harness/mosquitto.js';
import { threadTicks, TICK } from './harness/proc-cpu.js';
import { spawnRealtimeReplay } from './replay.js';
import { percentileOfSorted as pct } from '../percentile.js';

export interface E2eResult {
  seconds: number;
  events: number;
  /** From the window's completion in the daemon to the event received by a subscriber, ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  inferenceP99Ms: number;
  /** Daemon CPU at real time, % of one core: all threads, the main (event-loop) thread, the rest (inference). */
  cpuPercent: number;
  mainThreadCpuPercent: number;
  otherThreadsCpuPercent: number;
  /** Windows inferred over the measured stretch, and the CPU one inference costs (measured apart). */
  inferences: number;
  cpuMsPerInference: number;
  /** All threads minus inferences × their cost. */
  outsideInferenceCpuPercent: number;
  rssMb: number;
}

/** Inferences so far, from the daemon's /metrics. */
async function inferenceCount(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^ecg_emotiond_inference_seconds_count (\d+)$/m.exec(text)?.[1] ?? 0);
}

/**
 * CPU time of one inference with the daemon's default model settings, from this process's CPU
 * over back-to-back runs of real windows while nothing else runs here.
 */
async function cpuPerInference(runs = 200): Promise<number> {
  const config = await loadConfig(undefined);
  const { pkg, engine } = await startModel({ ...config.model, providers: ['cpu'] }, createLogger('error'));
  try {
    const windows = (await usableWindows(DEMO_RECORD, windowSpecOf(pkg.manifest))).slice(0, 50);
    for (const w of windows.slice(0, 5)) await engine.infer(w);
    const c0 = process.cpuUsage();
    for (let i = 0; i < runs; i++) await engine.infer(windows[i % windows.length]);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / runs;
  } finally {
    await engine.close();
  }
}

/**
 * End to end at real time: a 500 Hz recording replayed over a pty into `ecg-emotiond run`, a real
 * mosquitto, a subscriber; event latency after warm-up, daemon CPU per thread group and RSS.
 */
export async function runE2eBench(
  o: { seconds?: number; log?: (l: string) => void } = {},
): Promise<E2eResult> {
  const seconds = o.seconds ?? 60;
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'ecg-bench-e2e-'));
  const broker = await Mosquitto.create(dir);
  const pty = await ptyPair(dir);
  const healthPort = await freePort();
  await writeFile(
    join(dir, 'config.yaml'),
    `vehicleId: bench\nsource:\n  path: ${pty.b}\nmqtt:\n  url: ${broker.url}\noutbox:\n  dir: ${dir}/outbox\nmodel:\n  providers: [cpu]\n` +
      `health:\n  enabled: true\n  port: ${healthPort}\n`,
  );
  const latencies: number[] = [];
  const inference: number[] = [];
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  await sub.subscribeAsync('ecg-emotiond/bench/emotion', { qos: 1 });
  sub.on('message', (_t, payload) => {
    const e = JSON.parse(payload.toString());
    latencies.push(Date.now() - e.window.endMs);
    inference.push(e.latencyMs.inference);
  });
  const daemon = spawn(process.execPath, [cli, 'run', '--config', join(dir, 'config.yaml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  daemon.stderr.on('data', (b) => (log += b));
  try {
    const t0 = Date.now();
    while (!log.includes('ecg-emotiond running')) {
      if (Date.now() - t0 > 30_000 || daemon.exitCode !== null)
        throw new Error(`daemon did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const replay = spawnRealtimeReplay(pty.a, seconds);
    replay.stdout.resume(); // its JSON summary is not needed here
    // CPU measured over the real-time stretch, after 10 s of warm-up.
    await new Promise((r) => setTimeout(r, 10_000));
    const c0 = await threadTicks(daemon.pid!);
    const n0 = await inferenceCount(healthPort);
    const w0 = Date.now();
    await new Promise((r) => replay.on('exit', r));
    const c1 = await threadTicks(daemon.pid!);
    const inferences = (await inferenceCount(healthPort)) - n0;
    const wall = (Date.now() - w0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const status = await readFile(`/proc/${daemon.pid}/status`, 'utf8');
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
    const warm = 3;
    const lat = latencies.slice(warm).sort((a, b) => a - b);
    const inf = inference.slice(warm).sort((a, b) => a - b);
    const cpu = (ticks: number) => (100 * ticks) / TICK / wall;
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.on('exit', r));
    const cpuMsPerInference = await cpuPerInference();
    const all = cpu(c1.all - c0.all);
    const result: E2eResult = {
      seconds,
      events: latencies.length,
      latencyP50Ms: pct(lat, 0.5),
      latencyP99Ms: pct(lat, 0.99),
      latencyMaxMs: lat.at(-1) ?? Number.NaN,
      inferenceP99Ms: pct(inf, 0.99),
      cpuPercent: all,
      mainThreadCpuPercent: cpu(c1.main - c0.main),
      otherThreadsCpuPercent: cpu(c1.all - c0.all - (c1.main - c0.main)),
      inferences,
      cpuMsPerInference,
      outsideInferenceCpuPercent: all - (100 * inferences * cpuMsPerInference) / 1000 / wall,
      rssMb,
    };
    o.log?.(
      `e2e ${seconds} s at 500 Hz: ${result.events} events; latency window → subscriber p50 ${result.latencyP50Ms} ms, ` +
        `p99 ${result.latencyP99Ms} ms, max ${result.latencyMaxMs} ms (inference p99 ${result.inferenceP99Ms.toFixed(1)} ms); ` +
        `daemon CPU ${result.cpuPercent.toFixed(1)} % of a core (event-loop thread ${result.mainThreadCpuPercent.toFixed(1)} %, ` +
        `worker and onnxruntime threads ${result.otherThreadsCpuPercent.toFixed(1)} %); ${inferences} inferences at ` +
        `${cpuMsPerInference.toFixed(1)} ms CPU each, so ${result.outsideInferenceCpuPercent.toFixed(1)} % outside inference; RSS ${result.rssMb.toFixed(0)} MB`,
    );
    return result;
  } finally {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.on('exit', r));
    }
    await sub.endAsync();
    await pty.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
