import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { PROJECT_ROOT } from '../analysis/data-dir.js';
import { loadConfig } from '../config/load.js';
import { SampleFlag } from '../dsp/flags.js';
import { createLogger } from '../log.js';
import { startModel } from '../model/runtime/load-model.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { infoPayload } from '../publish/payloads.js';
import { Outbox } from '../publish/outbox.js';
import { payloadProblems, type Topic, TOPICS } from '../publish/payloads.js';
import { openChannel } from '../records/open.js';
import { EventLogWriter } from '../report/event-log.js';
import { writeReport } from '../report/write-report.js';
import { Pipeline } from './pipeline.js';

export const DEMO_RECORD = join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt');

export interface DemoOptions {
  record?: string;
  /** An external broker; otherwise an embedded one (aedes) on a free loopback port. */
  broker?: string;
  /** Playback speed (× real time). */
  speed?: number;
  config?: string;
  /** Where the event log and the HTML report go. */
  outDir?: string;
  out?: (line: string) => void;
}

const color = (code: number, s: string) => (process.stdout.isTTY ? `\x1b[${code}m${s}\x1b[0m` : s);
const shortPath = (p: string) =>
  relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p);
const LABEL_COLORS: Record<string, number> = { low: 32, medium: 33, high: 31 };

/**
 * `npm start`: the whole daemon path on a real in-car recording: record → DSP → windows → the
 * shipped INT8 model → decision → outbox → MQTT, with an embedded broker and a subscriber that
 * prints what a vehicle consumer would receive.
 */
export async function runDemo(
  o: DemoOptions = {},
): Promise<{ events: number; windows: number; report: string }> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const config = await loadConfig(o.config);
  // The terminal shows readable lines; only errors go to the JSON log here.
  const log = createLogger('error');
  const record = o.record ?? DEMO_RECORD;
  const speed = o.speed ?? 40;
  const dir = await mkdtemp(join(tmpdir(), 'ecg-emotiond-demo-'));
  let broker = o.broker;
  let closeBroker = async () => {};
  if (!broker) {
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    broker = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    closeBroker = () =>
      new Promise<void>((r) => {
        aedes.close(() => server.close(() => r()));
      });
  }
  const base = `${config.mqtt.prefix}/${config.vehicleId}`;
  out(
    color(
      1,
      `ecg-emotiond demo: ${record.replace(`${PROJECT_ROOT}/`, '')} at ${speed}x real time, broker ${broker}${o.broker ? '' : ' (embedded)'}`,
    ),
  );

  const { pkg, engine } = await startModel(config.model, log);
  for (const skip of engine.skipped)
    out(color(2, `execution provider ${skip.provider} skipped: ${skip.reason}`));
  out(
    `model ${pkg.manifest.name} ${pkg.manifest.version} (${pkg.manifest.precision}, labels ${pkg.manifest.labels.join('/')}) on ${engine.provider}, warm-up ${engine.warmupMs.toFixed(0)} ms`,
  );
  const outbox = await Outbox.open(join(dir, 'outbox'), { fsync: config.outbox.fsync });
  const startedAt = new Date().toISOString();
  const publisher = new MqttPublisher({
    url: broker,
    clientId: config.mqtt.clientId ?? `ecg-emotiond-${config.vehicleId}`,
    baseTopic: base,
    outbox,
    protocolVersion: o.broker ? 5 : 4, // aedes speaks MQTT 3.1.1
    info: () =>
      infoPayload({
        vehicleId: config.vehicleId,
        manifest: pkg.manifest,
        provider: engine.provider,
        config,
        startedAt,
      }),
    log,
  });

  // A consumer on the bus, printing what it receives.
  const consumer = await mqtt.connectAsync(broker, { protocolVersion: o.broker ? 5 : 4 });
  await consumer.subscribeAsync(`${base}/#`, { qos: 1 });
  let received = 0;
  let messages = 0;
  const invalid: string[] = [];
  let recordS = 0;
  consumer.on('message', (topic, payload) => {
    const name = topic.slice(base.length + 1);
    // Every message is checked against the contract's schema for its topic.
    messages++;
    const known = (TOPICS as string[]).includes(name);
    const body = name === 'state' ? payload.toString() : JSON.parse(payload.toString());
    const problems = known ? payloadProblems(name as Topic, body) : ['unknown topic'];
    if (problems.length) invalid.push(`${topic}: ${problems.join('; ')}`);
    if (name !== 'emotion') return;
    received++;
    const e = JSON.parse(payload.toString());
    const at = `${String(Math.floor(recordS / 60)).padStart(2, '0')}:${String(Math.floor(recordS % 60)).padStart(2, '0')}`;
    const label = color(LABEL_COLORS[e.label] ?? 36, e.label.padEnd(7));
    const hr = e.heartRateBpm ? `${e.heartRateBpm.toFixed(0)} bpm` : '-';
    const why = e.reason ? ` (${e.reason.replace('_', ' ')})` : '';
    if (e.type !== 'update') {
      out(
        `${at}  ${e.type.toUpperCase().padEnd(4)} ${label} confidence ${e.confidence.toFixed(2)}  HR ${hr}  quality ${e.signalQuality}  episode ${e.episodeId.slice(0, 8)}  latency ${e.latencyMs.total.toFixed(1)} ms${why}`,
      );
    }
  });
  await publisher.start();

  const reader = await openChannel(record);
  const info = reader.info;
  const outDir = o.outDir ?? 'demo-output';
  await mkdir(outDir, { recursive: true });
  const eventLog = await EventLogWriter.open(join(outDir, 'events.jsonl'), { ecg: true });
  eventLog.begin({
    startedAt,
    vehicleId: config.vehicleId,
    manifest: pkg.manifest,
    provider: engine.provider,
    source: record,
    record,
  });
  const t0 = Date.now();
  const pipeline = new Pipeline({
    config,
    inputRateHz: info.sampleRateHz,
    pkg,
    engine,
    publisher,
    log,
    clock: () => t0 + recordS * 1000,
    eventLog,
  });
  const chunkS = 0.25;
  const wall0 = process.hrtime.bigint();
  let lastProgress = -1;
  for await (const chunk of reader.chunks({ chunkSamples: Math.round(info.sampleRateHz * chunkS) })) {
    const flags = new Uint8Array(chunk.physical.length);
    if (chunk.digital) {
      for (let i = 0; i < flags.length; i++) {
        const d = chunk.digital[i];
        if (
          (info.digitalMin !== null && d <= info.digitalMin) ||
          (info.digitalMax !== null && d >= info.digitalMax)
        )
          flags[i] = SampleFlag.Saturated;
      }
    }
    if (chunk.gapBeforeS) pipeline.gap(Math.round(chunk.gapBeforeS * info.sampleRateHz));
    pipeline.push(chunk.physical, flags);
    recordS = (chunk.startSample + chunk.physical.length) / info.sampleRateHz;
    // Real-time pacing scaled by `speed`, from absolute deadlines.
    const due = wall0 + BigInt(Math.round((recordS / speed) * 1e9));
    const ahead = Number(due - process.hrtime.bigint()) / 1e6;
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
    const minute = Math.floor(recordS / 60);
    if (minute !== lastProgress && minute > 0) {
      lastProgress = minute;
      const w = pipeline.stats.windows;
      out(
        color(
          2,
          `-- ${minute} min of ECG: ${w.good + w.acceptable} usable / ${w.unusable} unusable windows, ${received} emotion events received`,
        ),
      );
    }
  }
  await pipeline.drain();
  const deadline = Date.now() + 5000;
  while (outbox.depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));

  const s = pipeline.stats;
  const p = (q: number) => s.inference.percentile(q);
  out(color(1, 'summary'));
  out(
    `  ECG        ${(s.samples / info.sampleRateHz / 60).toFixed(1)} min in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  out(
    `  windows    good ${s.windows.good}, acceptable ${s.windows.acceptable}, unusable ${s.windows.unusable}; skipped while the model was busy ${s.droppedBusy}`,
  );
  out(
    `  inference  ${s.inference.count} windows, p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms (${pkg.manifest.precision} on ${engine.provider})`,
  );
  out(
    `  events     new ${s.events.new}, update ${s.events.update}, end ${s.events.end}; received by the consumer ${received}; outbox left ${outbox.depth}`,
  );
  out(
    `  MQTT       ${messages} messages on ${base}/#, ${invalid.length} not matching their schema${invalid.length ? `: ${invalid[0]}` : ''}`,
  );

  await eventLog.close();
  const report = join(outDir, 'report.html');
  await writeReport(eventLog.path, { out: report });
  out(`  report     ${shortPath(report)} (event log ${shortPath(eventLog.path)})`);

  await publisher.stop();
  await consumer.endAsync();
  await engine.close();
  await outbox.close();
  await closeBroker();
  await rm(dir, { recursive: true, force: true });
  return { events: received, windows: s.windows.good + s.windows.acceptable + s.windows.unusable, report };
}
