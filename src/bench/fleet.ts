import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { workerEntry } from '../paths.js';
import { percentileOfSorted as pct } from '../percentile.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { Outbox } from '../publish/outbox.js';
import {
  emotionPayload,
  emotionStatePayload,
  heartRatePayload,
  signalQualityPayload,
} from '../publish/payloads.js';
import { uniform } from '../model/rng.js';
import type { FleetConsumerCounts, FleetConsumerMessage, FleetConsumerReport } from './fleet-consumer.js';
import { LinkProxy } from './harness/link-proxy.js';
import { Mosquitto } from './harness/mosquitto.js';
import { threadTicks, TICK } from './harness/proc-cpu.js';

// The demo drive's measured stream (docs/fleet.md): 477 windows in 600 s, each giving
// signal_quality, heart_rate, emotion and emotion/state: 3.2 messages a second.
const WINDOW_EVERY_MS = 600_000 / 477;
const LABELS = ['low', 'medium', 'high'];

export interface FleetBenchOptions {
  /** Fleet sizes to run, one after the other. */
  vehicles?: number[];
  /** Driving time per size, s. */
  seconds?: number;
  /** Mean time between one vehicle's link outages, s (exponential). */
  meanBetweenOutagesS?: number;
  /** Outage length, uniform in [min, max] s; each ends by the link resuming or resetting. */
  outageS?: [number, number];
  keepaliveS?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface FleetRunResult {
  vehicles: number;
  seconds: number;
  outages: number;
  /** Events the vehicles' outboxes accepted, and how many reached the consumer (first copies). */
  accepted: number;
  delivered: number;
  lost: number;
  duplicates: number;
  invalid: number;
  /** Into the broker (PUBACKed events) and out to the consumer, over the driving time. */
  brokerInPerS: number;
  consumerPerS: number;
  /** Accepted to received, ms: vehicles whose link never went down, and every vehicle. */
  latencyCleanMs: { p50: number; p95: number; p99: number; max: number };
  latencyAllMs: { p50: number; p95: number; p99: number; max: number };
  /** MQTT bytes on each vehicle's link (framing, pings, reconnects; no TLS or TCP/IP headers). */
  upBytesPerVehicleHour: number;
  downBytesPerVehicleHour: number;
  messagesPerVehicleHour: number;
  /** Topic and payload bytes a message, before MQTT framing (the demo drive's: 353). */
  payloadBytesPerMessage: number;
  /** mosquitto's CPU, % of one core, over the driving time. */
  brokerCpuPercent: number;
  /** The simulating process (vehicles and consumer), % of one core. */
  benchCpuPercent: number;
  /** Until every outbox was empty and every event had arrived (or the drain gave up), s. */
  drainS: number;
  /** Whether the consumer kept up (95 % of the broker's intake while driving): past that, the
   * simulation on this host is what limits the figures, not the fleet. */
  keptUp: boolean;
}

export interface FleetBenchResult {
  host: string;
  runs: FleetRunResult[];
  /** From the largest run whose consumer kept up: what 10 000 cars send an hour. */
  tenThousandCars: {
    fromVehicles: number;
    messagesPerHour: number;
    upGBPerHour: number;
    downGBPerHour: number;
  };
}

/** The consumer worker, asked for its counts or its full report. */
class Consumer {
  private waiting: { resolve: (m: FleetConsumerMessage) => void; reject: (err: Error) => void } | null = null;
  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FleetConsumerMessage) => this.waiting?.resolve(m));
    worker.on('error', (err) => this.waiting?.reject(err));
  }

  static async start(url: string): Promise<Consumer> {
    const worker = new Worker(workerEntry('fleet-consumer', import.meta.url), {
      workerData: { url, filter: 'ecg-emotiond/+/#', clients: 2 },
    });
    const c = new Consumer(worker);
    await c.ask(null);
    return c;
  }

  private ask(m: 'counts' | 'report' | null): Promise<FleetConsumerMessage> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      if (m) this.worker.postMessage(m);
    });
  }

  async counts(): Promise<FleetConsumerCounts> {
    return (await this.ask('counts')) as FleetConsumerCounts;
  }

  async report(): Promise<FleetConsumerReport> {
    return (await this.ask('report')) as FleetConsumerReport;
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage('stop');
    await exited;
  }
}

interface Vehicle {
  name: string;
  link: LinkProxy;
  outbox: Outbox;
  pub: MqttPublisher;
  /** Outages still to come: [start, end] in ms from the start, and how each ends. */
  outages: { at: number; until: number; end: 'resume' | 'reset' }[];
  hadOutage: boolean;
  episodeId: string;
}

const quiet = createLogger('silent');

// The demo's model, as its events name it (the sha256 of a package is 64 hex digits).
const MODEL = {
  name: 'driver-stress-drivedb',
  version: '0.1.0',
  precision: 'int8' as const,
  sha256: createHash('sha256').update('driver-stress-drivedb').digest('hex'),
};

/**
 * One window's four messages, built by the contract's own payload functions with values shaped as
 * the daemon's are (epoch window bounds, full-precision floats); returns their topic and payload bytes.
 */
function emitWindow(v: Vehicle, n: number, rand: () => number): number {
  const endMs = Date.now() - 600 * rand();
  const window = { startMs: endMs - 5000, endMs };
  const bpm = 60 + 40 * rand();
  const p = [rand(), rand(), rand()];
  const sum = p[0] + p[1] + p[2];
  const probabilities = Object.fromEntries(LABELS.map((l, i) => [l, p[i] / sum]));
  const top = Math.max(...p);
  const label = LABELS[p.indexOf(top)];
  const newEpisode = n % 40 === 0;
  if (newEpisode) v.episodeId = randomUUID();
  const episodeId = v.episodeId;
  const inferenceMs = 10 + 5 * rand();
  const messages: [string, unknown][] = [
    ['signal_quality', signalQualityPayload('good', [], window)],
    [
      'heart_rate',
      heartRatePayload(
        { bpm, rmssdMs: 10 + 40 * rand(), sdnnMs: 10 + 40 * rand(), pnn50: 0, nnIntervals: 4 },
        window,
      ),
    ],
    [
      'emotion',
      emotionPayload(
        {
          type: newEpisode ? 'new' : 'update',
          episodeId,
          label,
          confidence: top / sum,
          probabilities,
          episodeStartMs: 0,
          windowStartMs: window.startMs,
          windowEndMs: window.endMs,
        },
        {
          heartRateBpm: bpm,
          signalQuality: 'good',
          model: MODEL,
          provider: 'cpu',
          inferenceMs,
          totalMs: inferenceMs + 20 * rand(),
        },
      ),
    ],
    ['emotion/state', emotionStatePayload({ label, episodeId, confidence: top / sum })],
  ];
  let bytes = 0;
  for (const [topic, payload] of messages) {
    bytes += `ecg-emotiond/${v.name}/${topic}`.length + JSON.stringify(payload).length;
    void v.pub.publish(topic, payload);
  }
  return bytes;
}

const summary = (sorted: Float64Array) => ({
  p50: pct(sorted, 0.5),
  p95: pct(sorted, 0.95),
  p99: pct(sorted, 0.99),
  max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
});

async function runFleet(
  n: number,
  o: Required<Omit<FleetBenchOptions, 'log' | 'vehicles'>>,
  log: (l: string) => void,
): Promise<FleetRunResult> {
  // Each car has its own disk; here they would all share one, so their outboxes live in memory
  // (tmpfs: fsync costs nothing) and the figures are the broker's and the links', not this disk's.
  const shm = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(shm, 'ecg-fleet-bench-'));
  const broker = await Mosquitto.create(dir, 'max_queued_messages 100000\nmax_inflight_messages 0\n');
  const consumer = await Consumer.start(broker.url);
  const rand = uniform(o.seed + n);
  const runMs = o.seconds * 1000;
  const vehicles: Vehicle[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const name = `v${String(i).padStart(5, '0')}`;
      const link = await LinkProxy.start(broker.port);
      const outbox = await Outbox.open(join(dir, name));
      const pub = new MqttPublisher({
        url: link.url,
        clientId: name,
        baseTopic: `ecg-emotiond/${name}`,
        outbox,
        info: () => ({ vehicleId: name }),
        keepaliveS: o.keepaliveS,
        connectTimeoutMs: 10_000,
        reconnectMs: 500,
        maxReconnectMs: 5000,
        log: quiet,
      });
      const outages: Vehicle['outages'] = [];
      for (let at = -Math.log(1 - rand()) * o.meanBetweenOutagesS * 1000; at < runMs;) {
        const len = (o.outageS[0] + rand() * (o.outageS[1] - o.outageS[0])) * 1000;
        outages.push({ at, until: Math.min(at + len, runMs), end: rand() < 0.5 ? 'resume' : 'reset' });
        at += len - Math.log(1 - rand()) * o.meanBetweenOutagesS * 1000;
      }
      vehicles.push({ name, link, outbox, pub, outages, hadOutage: outages.length > 0, episodeId: '' });
    }
    // Cars start their day at different times: connects spread over 2 s.
    await Promise.all(
      vehicles.map(async (v, i) => {
        await new Promise((r) => setTimeout(r, (2000 * i) / n));
        await v.pub.start();
      }),
    );
    for (const t = Date.now(); vehicles.some((v) => !v.pub.connected);) {
      if (Date.now() - t > 30_000)
        throw new Error(`bench fleet: ${n} vehicles did not all connect within 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const brokerPid = broker.pid!;
    const brokerTicks0 = (await threadTicks(brokerPid)).all;
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    let accepted = 0;
    let payloadBytes = 0;
    const timers: NodeJS.Timeout[] = [];
    for (const v of vehicles) {
      let w = 0;
      const phase = rand() * WINDOW_EVERY_MS;
      const tick = () => {
        const due = Date.now() - t0;
        if (due >= runMs) return;
        payloadBytes += emitWindow(v, w++, rand);
        accepted += 4;
        timers.push(setTimeout(tick, t0 + phase + w * WINDOW_EVERY_MS - Date.now()));
      };
      timers.push(setTimeout(tick, phase));
      for (const out of v.outages) {
        timers.push(setTimeout(() => v.link.goDead(), out.at));
        timers.push(setTimeout(() => (out.end === 'resume' ? v.link.resume() : v.link.reset()), out.until));
      }
    }
    await new Promise((r) => setTimeout(r, runMs + 50));
    for (const t of timers) clearTimeout(t);
    const drivenS = (Date.now() - t0) / 1000;
    const brokerTicks1 = (await threadTicks(brokerPid)).all;
    const cpu1 = process.cpuUsage(cpu0);
    const pubacked = accepted - vehicles.reduce((a, v) => a + v.outbox.depth, 0);
    const midCounts = await consumer.counts();
    // Every link back up; wait for the outboxes to empty and the consumer to have everything.
    for (const v of vehicles) v.link.resume();
    const d0 = Date.now();
    for (;;) {
      const c = await consumer.counts();
      const depth = vehicles.reduce((a, v) => a + v.outbox.depth, 0);
      if ((c.unique >= accepted && depth === 0) || Date.now() - d0 > 120_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const drainS = (Date.now() - d0) / 1000;
    const rep = await consumer.report();
    const clean = new Set(vehicles.flatMap((v, i) => (v.hadOutage ? [] : [i])));
    const all = Float64Array.from(rep.latencyMs).sort();
    const cleanLat = Float64Array.from(rep.latencyMs.filter((_, i) => clean.has(rep.vehicles[i]))).sort();
    const up = vehicles.reduce((a, v) => a + v.link.upBytes, 0);
    const down = vehicles.reduce((a, v) => a + v.link.downBytes, 0);
    const perHour = 3600 / drivenS / n;
    const r: FleetRunResult = {
      vehicles: n,
      seconds: Math.round(drivenS),
      outages: vehicles.reduce((a, v) => a + v.outages.length, 0),
      accepted,
      delivered: rep.unique,
      lost: accepted - rep.unique,
      duplicates: rep.duplicates,
      invalid: rep.invalid,
      brokerInPerS: Math.round(pubacked / drivenS),
      consumerPerS: Math.round(midCounts.unique / drivenS),
      latencyCleanMs: summary(cleanLat),
      latencyAllMs: summary(all),
      upBytesPerVehicleHour: Math.round(up * perHour),
      downBytesPerVehicleHour: Math.round(down * perHour),
      messagesPerVehicleHour: Math.round(accepted * perHour),
      payloadBytesPerMessage: Math.round(payloadBytes / accepted),
      brokerCpuPercent: Math.round(((brokerTicks1 - brokerTicks0) / TICK / drivenS) * 100),
      benchCpuPercent: Math.round(((cpu1.user + cpu1.system) / 1e6 / drivenS) * 100),
      drainS: Math.round(drainS * 10) / 10,
      keptUp: midCounts.unique >= 0.95 * pubacked,
    };
    log(
      `${String(n).padStart(5)} vehicles ${r.seconds} s, ${r.outages} outages: ${r.accepted} accepted, ` +
        `${r.lost} lost, ${r.duplicates} duplicates, ${r.invalid} invalid; ${r.consumerPerS} msg/s; latency ` +
        `clean p50/p99 ${r.latencyCleanMs.p50}/${r.latencyCleanMs.p99} ms, all p99/max ${r.latencyAllMs.p99}/` +
        `${r.latencyAllMs.max} ms; ${(r.upBytesPerVehicleHour / 1e6).toFixed(2)} MB/h up per vehicle (${r.payloadBytesPerMessage} B/message before MQTT); ` +
        `broker ${r.brokerCpuPercent} % CPU, bench ${r.benchCpuPercent} %; drained in ${r.drainS} s` +
        (r.keptUp ? '' : ' (saturated: the consumer fell behind the broker on this host)'),
    );
    return r;
  } finally {
    await Promise.all(vehicles.map((v) => v.pub.stop().catch(() => undefined)));
    await Promise.all(vehicles.map((v) => v.link.close()));
    await Promise.all(vehicles.map((v) => v.outbox.close()));
    await consumer.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * N simulated vehicles (the real publisher and outbox, the demo drive's message rate), each over
 * its own link proxy with outages at random, into one mosquitto on loopback, read by a consumer on
 * a shared subscription.
 */
export async function runFleetBench(opts: FleetBenchOptions = {}): Promise<FleetBenchResult> {
  const log = opts.log ?? (() => undefined);
  const o = {
    seconds: opts.seconds ?? 60,
    meanBetweenOutagesS: opts.meanBetweenOutagesS ?? 120,
    outageS: opts.outageS ?? ([5, 30] as [number, number]),
    keepaliveS: opts.keepaliveS ?? 5,
    seed: opts.seed ?? 1,
  };
  const runs: FleetRunResult[] = [];
  log(
    `bench fleet: each vehicle ${Math.round((3600_000 / WINDOW_EVERY_MS) * 4)} messages/h (the demo drive's rate), ` +
      `outages every ${o.meanBetweenOutagesS} s on average lasting ${o.outageS[0]}-${o.outageS[1]} s, keepalive ${o.keepaliveS} s`,
  );
  for (const n of opts.vehicles ?? [10, 100, 1000]) runs.push(await runFleet(n, o, log));
  const ref = runs.filter((r) => r.keptUp).at(-1) ?? runs[runs.length - 1];
  const tenThousandCars = {
    fromVehicles: ref.vehicles,
    messagesPerHour: ref.messagesPerVehicleHour * 10_000,
    upGBPerHour: Math.round((ref.upBytesPerVehicleHour * 10_000) / 1e7) / 100,
    downGBPerHour: Math.round((ref.downBytesPerVehicleHour * 10_000) / 1e7) / 100,
  };
  log(
    `10 000 cars (per-vehicle figures of the ${ref.vehicles}-vehicle run): ` +
      `${(tenThousandCars.messagesPerHour / 1e6).toFixed(1)} M messages, ${tenThousandCars.upGBPerHour} GB up and ` +
      `${tenThousandCars.downGBPerHour} GB down an hour (MQTT bytes; TLS and TCP/IP headers not counted)`,
  );
  return { host: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`, runs, tenThousandCars };
}
