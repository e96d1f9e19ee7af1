import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { sharedDataDir } from '../paths.js';
import { loadConfig } from '../config/load.js';
import { Daemon } from '../daemon/daemon.js';
import { createLogger } from '../log.js';
import { Mosquitto } from './harness/mosquitto.js';
import { RecordSource } from '../sources/record-source.js';

export interface SoakResult {
  hoursOfEcg: number;
  wallSeconds: number;
  windows: number;
  events: number;
  received: number;
  lost: number;
  errorsLogged: number;
  rssAfterWarmupMb: number;
  rssEndMb: number;
  rssGrowthMb: number;
}

/**
 * Hours of real ECG (drivedb drive06, looped) through the daemon's pipeline as fast as it takes it
 * (each window waits for the model: none skipped), the shipped model, the outbox and a real
 * mosquitto with a subscriber counting events. RSS growth after the first hour, events lost,
 * errors logged.
 */
export async function runSoakBench(
  o: { hours?: number; log?: (l: string) => void } = {},
): Promise<SoakResult> {
  const hours = o.hours ?? 24;
  const dir = await mkdtemp(join(tmpdir(), 'ecg-soak-'));
  const broker = await Mosquitto.create(dir);
  const base = await loadConfig(undefined, { ECG_EMOTIOND__MODEL__PROVIDERS: '[cpu]' });
  const config = {
    ...base,
    vehicleId: 'soak',
    mqtt: { ...base.mqtt, url: broker.url, statsIntervalS: 0 },
    outbox: { ...base.outbox, dir: join(dir, 'outbox'), fsync: 'interval' as const },
    eventLog: { ...base.eventLog, path: null },
    health: { ...base.health, enabled: false },
  };
  let errors = 0;
  const log = createLogger('warn', {
    write: (line: string) => {
      if (/"level":(50|60)/.test(line)) errors++;
    },
  } as never);
  // As fast as the pipeline takes it: each frame waits for the window in inference, none skipped.
  let daemon: Daemon | null = null;
  const source = await RecordSource.open(join(sharedDataDir(), 'drivedb', 'drive06'), {
    speed: Number.POSITIVE_INFINITY,
    frameS: 0.25,
    loop: true,
    durationS: hours * 3600,
    pace: () => daemon?.drained() ?? Promise.resolve(),
  });
  const t0 = Date.now();
  daemon = await Daemon.open(config, { source, log, clock: () => t0 + source.positionS * 1000 });
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  await sub.subscribeAsync(`${config.mqtt.prefix}/soak/emotion`, { qos: 1 });
  const seen = new Set<string>();
  sub.on('message', (_t, p) => seen.add(JSON.parse(p.toString()).eventId));
  const rss = () => process.memoryUsage.rss() / 2 ** 20;
  let rssAfterWarmup = 0;
  let nextReport = 1;
  const d = daemon;
  d.events.on('window', () => {
    const ecgS = source.positionS;
    if (!rssAfterWarmup && ecgS >= 3600) {
      if (global.gc) global.gc();
      rssAfterWarmup = rss();
    }
    if (ecgS < nextReport * 3600) return;
    o.log?.(
      `${nextReport} h of ECG in ${((Date.now() - t0) / 1000).toFixed(0)} s: RSS ${rss().toFixed(1)} MB, outbox ${d.outbox.depth}`,
    );
    nextReport++;
  });
  try {
    await d.start();
    await source.finished;
    await d.drained();
    const events = () => d.stats.events.new + d.stats.events.update + d.stats.events.end;
    const deadline = Date.now() + 30_000;
    while ((d.outbox.depth > 0 || seen.size < events()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (global.gc) global.gc();
    const s = d.stats;
    const result: SoakResult = {
      hoursOfEcg: source.positionS / 3600,
      wallSeconds: (Date.now() - t0) / 1000,
      windows: s.windows.good + s.windows.acceptable + s.windows.unusable,
      events: events(),
      received: seen.size,
      lost: events() - seen.size,
      errorsLogged: errors,
      rssAfterWarmupMb: rssAfterWarmup,
      rssEndMb: rss(),
      rssGrowthMb: rss() - rssAfterWarmup,
    };
    o.log?.(
      `soak: ${result.hoursOfEcg.toFixed(1)} h of ECG in ${result.wallSeconds.toFixed(0)} s, ${result.windows} windows, ` +
        `${result.events} events, ${result.lost} lost, ${result.errorsLogged} errors logged; RSS ${result.rssAfterWarmupMb.toFixed(1)} MB ` +
        `after the first hour, ${result.rssEndMb.toFixed(1)} MB at the end (growth ${result.rssGrowthMb.toFixed(1)} MB)`,
    );
    return result;
  } finally {
    await d.stop();
    await sub.endAsync();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
