import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { ptyPair } from '../hil/pty-pair.js';
import { Mosquitto } from '../publish/mosquitto.js';
import { spawnRealtimeReplay } from './replay.js';

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
  rssMb: number;
}

const TICK = 100; // USER_HZ on Linux

async function threadTicks(pid: number): Promise<{ main: number; all: number }> {
  let all = 0;
  let main = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime
    if (!Number.isFinite(ticks)) continue;
    all += ticks;
    if (Number(tid) === pid) main = ticks;
  }
  return { main, all };
}

const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

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
  await writeFile(
    join(dir, 'config.yaml'),
    `vehicleId: bench\nsource:\n  path: ${pty.b}\nmqtt:\n  url: ${broker.url}\noutbox:\n  dir: ${dir}/outbox\nmodel:\n  providers: [cpu]\n`,
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
    const w0 = Date.now();
    await new Promise((r) => replay.on('exit', r));
    const c1 = await threadTicks(daemon.pid!);
    const wall = (Date.now() - w0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const status = await readFile(`/proc/${daemon.pid}/status`, 'utf8');
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
    const warm = 3;
    const lat = latencies.slice(warm).sort((a, b) => a - b);
    const inf = inference.slice(warm).sort((a, b) => a - b);
    const cpu = (ticks: number) => (100 * ticks) / TICK / wall;
    const result: E2eResult = {
      seconds,
      events: latencies.length,
      latencyP50Ms: pct(lat, 0.5),
      latencyP99Ms: pct(lat, 0.99),
      latencyMaxMs: lat.at(-1) ?? Number.NaN,
      inferenceP99Ms: pct(inf, 0.99),
      cpuPercent: cpu(c1.all - c0.all),
      mainThreadCpuPercent: cpu(c1.main - c0.main),
      otherThreadsCpuPercent: cpu(c1.all - c0.all - (c1.main - c0.main)),
      rssMb,
    };
    o.log?.(
      `e2e ${seconds} s at 500 Hz: ${result.events} events; latency window → subscriber p50 ${result.latencyP50Ms} ms, ` +
        `p99 ${result.latencyP99Ms} ms, max ${result.latencyMaxMs} ms (inference p99 ${result.inferenceP99Ms.toFixed(1)} ms); ` +
        `daemon CPU ${result.cpuPercent.toFixed(1)} % of a core (event-loop thread ${result.mainThreadCpuPercent.toFixed(1)} %, ` +
        `worker and onnxruntime threads ${result.otherThreadsCpuPercent.toFixed(1)} %); RSS ${result.rssMb.toFixed(0)} MB`,
    );
    return result;
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.on('exit', r));
    await sub.endAsync();
    await pty.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
