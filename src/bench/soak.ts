import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { sharedDataDir } from '../analysis/data-dir.js';
import { loadConfig } from '../config/load.js';
import { Pipeline } from '../daemon/pipeline.js';
import { createLogger } from '../log.js';
import { startModel } from '../model/runtime/load-model.js';
import { Mosquitto } from '../publish/mosquitto.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { Outbox } from '../publish/outbox.js';
import { openChannel } from '../records/open.js';

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
  const config = await loadConfig(undefined, { ECG_EMOTIOND__MODEL__PROVIDERS: '[cpu]' });
  let errors = 0;
  const log = createLogger('warn', {
    write: (line: string) => {
      if (/"level":(50|60)/.test(line)) errors++;
    },
  } as never);
  const { pkg, engine } = await startModel(config.model, log);
  const outbox = await Outbox.open(join(dir, 'outbox'), { fsync: 'interval' });
  const base = 'ecg-emotiond/soak';
  const publisher = new MqttPublisher({
    url: broker.url,
    clientId: 'soak',
    baseTopic: base,
    outbox,
    info: () => ({}),
    log,
  });
  await publisher.start();
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  await sub.subscribeAsync(`${base}/emotion`, { qos: 1 });
  const seen = new Set<string>();
  sub.on('message', (_t, p) => seen.add(JSON.parse(p.toString()).eventId));
  const record = join(sharedDataDir(), 'drivedb', 'drive06');
  const info = (await openChannel(record)).info;
  let ecgS = 0;
  const t0 = Date.now();
  const pipeline = new Pipeline({
    config,
    inputRateHz: info.sampleRateHz,
    pkg,
    engine,
    publisher,
    log,
    clock: () => t0 + ecgS * 1000,
  });
  const rss = () => process.memoryUsage.rss() / 2 ** 20;
  let rssAfterWarmup = 0;
  let nextReport = 1;
  try {
    while (ecgS < hours * 3600) {
      const reader = await openChannel(record);
      for await (const chunk of reader.chunks({ chunkSamples: 124 })) {
        pipeline.push(chunk.physical, null);
        await pipeline.drain(); // as fast as the pipeline takes it: no window skipped
        ecgS += chunk.physical.length / info.sampleRateHz;
        if (!rssAfterWarmup && ecgS >= 3600) {
          if (global.gc) global.gc();
          rssAfterWarmup = rss();
        }
        if (ecgS >= nextReport * 3600) {
          o.log?.(
            `${nextReport} h of ECG in ${((Date.now() - t0) / 1000).toFixed(0)} s: RSS ${rss().toFixed(1)} MB, outbox ${outbox.depth}`,
          );
          nextReport++;
        }
        if (ecgS >= hours * 3600) break;
      }
    }
    const deadline = Date.now() + 30_000;
    while (
      (outbox.depth > 0 ||
        seen.size < pipeline.stats.events.new + pipeline.stats.events.update + pipeline.stats.events.end) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (global.gc) global.gc();
    const s = pipeline.stats;
    const events = s.events.new + s.events.update + s.events.end;
    const result: SoakResult = {
      hoursOfEcg: ecgS / 3600,
      wallSeconds: (Date.now() - t0) / 1000,
      windows: s.windows.good + s.windows.acceptable + s.windows.unusable,
      events,
      received: seen.size,
      lost: events - seen.size,
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
    await publisher.stop();
    await sub.endAsync();
    await engine.close();
    await outbox.close();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
