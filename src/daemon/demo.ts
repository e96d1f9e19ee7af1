import { describeSkipped } from '../model/runtime/session.js';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import mqtt from 'mqtt';
import { DEMO_RECORD, PROJECT_ROOT } from '../paths.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import { payloadProblems, type Topic, TOPICS } from '../publish/payloads.js';
import { writeReport } from '../report/write-report.js';
import { trainingOverlap } from '../report/training-overlap.js';
import { RecordSource } from '../sources/record-source.js';
import { Daemon } from './daemon.js';
import { evidenceOf } from '../model/package/evidence.js';
import { UnavailableError } from '../errors.js';

export interface DemoOptions {
  record?: string;
  /** An external broker; otherwise an embedded one (aedes) on a free loopback port. */
  broker?: string;
  /** Playback speed (× real time). */
  speed?: number;
  /** Play only the first this many seconds of the record. */
  toS?: number;
  config?: string;
  /** Where the event log and the HTML report go. */
  outDir?: string;
  out?: (line: string) => void;
}

const color = (code: number, s: string) => (process.stdout.isTTY ? `\x1b[${code}m${s}\x1b[0m` : s);
const shortPath = (p: string) =>
  relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p);
const LABEL_COLORS: Record<string, number> = { low: 32, medium: 33, high: 31 };

/** An MQTT broker for the demo: the one given, or an embedded aedes on a free loopback port. */
async function demoBroker(url: string | undefined): Promise<{ url: string; close: () => Promise<void> }> {
  if (url) return { url, close: async () => {} };
  // aedes is a development dependency: a release on an ECU has the vehicle's broker instead.
  const { Aedes } = await import('aedes').catch(() => {
    throw new UnavailableError(
      'no embedded broker in this installation (aedes is not installed): give --broker URL',
    );
  });
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((r) => aedes.close(() => server.close(() => r()))),
  };
}

/** A vehicle consumer on the bus: checks every message against its topic's schema, prints emotions. */
async function demoConsumer(
  broker: string,
  base: string,
  v5: boolean,
  out: (l: string) => void,
  /** Record seconds of a window's wall-clock end (the demo's clock maps record time). */
  recordS: (epochMs: number) => number,
) {
  const consumer = await mqtt
    .connectAsync(broker, { protocolVersion: v5 ? 5 : 4, reconnectPeriod: 0, connectTimeout: 5000 })
    .catch((err: Error) => {
      throw new UnavailableError(`${broker}: cannot connect (${err.message})`);
    });
  await consumer.subscribeAsync(`${base}/#`, { qos: 1 });
  const seen = { emotions: 0, messages: 0, invalid: [] as string[] };
  consumer.on('message', (topic, payload) => {
    const name = topic.slice(base.length + 1);
    seen.messages++;
    const known = (TOPICS as string[]).includes(name);
    const body = name === 'state' ? payload.toString() : JSON.parse(payload.toString());
    const problems = known ? payloadProblems(name as Topic, body) : ['unknown topic'];
    if (problems.length) seen.invalid.push(`${topic}: ${problems.join('; ')}`);
    if (name !== 'emotion') return;
    seen.emotions++;
    if (body.type !== 'update') out(emotionLine(body, recordS(body.window.endMs)));
  });
  return { seen, end: () => consumer.endAsync() };
}

function emotionLine(
  e: {
    type: string;
    label: string;
    confidence: number;
    heartRateBpm: number | null;
    signalQuality: string;
    episodeId: string;
    latencyMs: { total: number };
    window: { endMs: number };
    reason?: string;
  },
  recordS: number,
): string {
  const s = Math.round(recordS); // the window's end, to the second
  const at = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  const label = color(LABEL_COLORS[e.label] ?? 36, e.label.padEnd(7));
  const hr = e.heartRateBpm ? `${e.heartRateBpm.toFixed(0)} bpm` : '-';
  const why = e.reason ? ` (${e.reason.replaceAll('_', ' ')})` : '';
  return `${at}  ${e.type.toUpperCase().padEnd(4)} ${label} confidence ${e.confidence.toFixed(2)}  HR ${hr}  quality ${e.signalQuality}  episode ${e.episodeId.slice(0, 8)}  latency ${e.latencyMs.total.toFixed(1)} ms${why}`;
}

/** The user's config with the demo's own broker, outbox, event log and no health port. */
function demoConfig(config: Config, broker: string, dir: string, outDir: string): Config {
  return {
    ...config,
    mqtt: { ...config.mqtt, url: broker },
    outbox: { ...config.outbox, dir: join(dir, 'outbox') },
    eventLog: { ...config.eventLog, path: join(outDir, 'events.jsonl'), ecg: true },
    health: { ...config.health, enabled: false },
  };
}

/**
 * `npm start`: the whole daemon path on a real in-car recording: record → DSP → windows → the
 * shipped INT8 model → decision → outbox → MQTT, with an embedded broker and a subscriber that
 * prints what a vehicle consumer would receive. The daemon is the one `run` builds, reading the
 * record through a RecordSource.
 */
export async function runDemo(
  o: DemoOptions = {},
): Promise<{ events: number; windows: number; report: string }> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const record = o.record ?? DEMO_RECORD;
  const speed = o.speed ?? 40;
  const outDir = o.outDir ?? 'demo-output';
  const userConfig = await loadConfig(o.config);
  // A record waits for the model (a live sensor cannot): no window is skipped as busy, so two runs
  // on one recording score the same windows and tell the same story.
  let daemon: Daemon | undefined;
  const source = await RecordSource.open(record, {
    speed,
    durationS: o.toS,
    pace: () => daemon?.drained() ?? Promise.resolve(),
  });
  await mkdir(outDir, { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), 'ecg-emotiond-demo-'));
  const broker = await demoBroker(o.broker);
  const v5 = Boolean(o.broker); // aedes speaks MQTT 3.1.1
  try {
    const config = demoConfig(userConfig, broker.url, dir, outDir);
    out(
      color(
        1,
        `ecg-emotiond demo: ${record.replace(`${PROJECT_ROOT}/`, '')} at ${speed}x real time, broker ${broker.url}${o.broker ? '' : ' (embedded)'}`,
      ),
    );
    // The consumer first: a broker that is not there ends the demo before the model loads.
    const base = `${config.mqtt.prefix}/${config.vehicleId}`;
    const t0 = Date.now();
    const consumer = await demoConsumer(broker.url, base, v5, out, (ms) => (ms - t0) / 1000);
    daemon = await Daemon.open(config, {
      source,
      // The terminal shows readable lines; only errors go to the JSON log here.
      log: createLogger('error'),
      clock: () => t0 + source.positionS * 1000,
      mqttProtocolVersion: v5 ? 5 : 4,
    });
    printModel(daemon, out);
    printProgressEachMinute(daemon, source, () => consumer.seen.emotions, out);
    await daemon.start();
    await source.finished;
    await daemon.finishRecord();
    await outboxEmpty(daemon);

    printSummary(daemon, source, consumer.seen, base, (Date.now() - t0) / 1000, out);
    await daemon.stop();
    await consumer.end();
    const eventLogPath = config.eventLog.path!;
    const report = join(outDir, 'report.html');
    await writeReport(eventLogPath, { out: report });
    out(`  report     ${shortPath(report)} (event log ${shortPath(eventLogPath)})`);
    const w = daemon.stats.windows;
    return { events: consumer.seen.emotions, windows: w.good + w.acceptable + w.unusable, report };
  } finally {
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function printModel(daemon: Daemon, out: (l: string) => void): void {
  const { pkg, engine } = daemon;
  // What the labels measure, as the training named its label column (drivedb: stress).
  const kind = pkg.manifest.training?.labelColumn;
  const { absent, failed } = describeSkipped(engine.provider, engine.skipped);
  if (absent) out(color(2, absent));
  for (const skip of failed) out(`execution provider ${skip.provider} skipped: ${skip.reason}`);
  out(
    `model ${pkg.manifest.name} ${pkg.manifest.version} (${pkg.manifest.precision}, labels ${pkg.manifest.labels.join('/')}${kind ? `: ${kind} levels` : ''}) on ${engine.provider}, warm-up ${engine.warmupMs.toFixed(0)} ms`,
  );
}

function printProgressEachMinute(
  daemon: Daemon,
  source: RecordSource,
  received: () => number,
  out: (l: string) => void,
): void {
  let minute = 0;
  daemon.events.on('window', () => {
    if (Math.floor(source.positionS / 60) <= minute) return;
    minute = Math.floor(source.positionS / 60);
    const w = daemon.stats.windows;
    out(
      color(
        2,
        `-- ${minute} min of ECG: ${w.good + w.acceptable} usable / ${w.unusable} unusable windows, ${received()} events on the emotion topic`,
      ),
    );
  });
}

function printSummary(
  daemon: Daemon,
  source: RecordSource,
  seen: { emotions: number; messages: number; invalid: string[] },
  base: string,
  wallS: number,
  out: (l: string) => void,
): void {
  const s = daemon.stats;
  const m = daemon.pkg.manifest;
  const p = (q: number) => s.inference.percentile(q);
  out(color(1, 'summary'));
  out(`  ECG        ${(s.samples / source.info.sampleRateHz / 60).toFixed(1)} min in ${wallS.toFixed(1)} s`);
  out(
    `  windows    good ${s.windows.good}, acceptable ${s.windows.acceptable}, unusable ${s.windows.unusable}; skipped while the model was busy ${s.droppedBusy}`,
  );
  out(
    `  inference  ${s.inference.count} windows, p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms (${m.precision} on ${daemon.engine.provider})`,
  );
  out(
    `  events     new ${s.events.new}, update ${s.events.update}, end ${s.events.end}; received by the consumer ${seen.emotions}; outbox left ${daemon.outbox.depth}`,
  );
  out(
    `  MQTT       ${seen.messages} messages on ${base}/#, ${seen.invalid.length} not matching their schema${seen.invalid.length ? `: ${seen.invalid[0]}` : ''}`,
  );
  const evidence = evidenceOf(m);
  out(`  model      ${m.name}: ${evidence.text}`);
  const { name, record, origin } = source;
  const overlap = trainingOverlap({
    model: m.name,
    trainedOn: evidence.trainedOn,
    source: name,
    record,
    origin,
  });
  out(`  recording  ${overlap.text}`);
}

/** Waits (up to 5 s) for the broker to acknowledge every stored event, then for deliveries to land. */
async function outboxEmpty(daemon: Daemon): Promise<void> {
  const deadline = Date.now() + 5000;
  while (daemon.outbox.depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
}
