import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { SampleFlag } from '../dsp/flags.js';
import { BITALINO_ECG } from '../hil/replay.js';
import { createLogger, type Logger } from '../log.js';
import { startModel } from '../model/runtime/load-model.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { infoPayload, statsPayload } from '../publish/payloads.js';
import { Outbox } from '../publish/outbox.js';
import { FrameFlag, type SampleFrame } from '../protocols/types.js';
import { EventLogWriter } from '../report/event-log.js';
import { SerialSource } from '../sources/serial-source.js';
import { SocketCanSource } from '../sources/socketcan-source.js';
import type { EcgSource } from '../sources/source.js';
import { type HealthSnapshot, type PipelineView, startHealthServer } from './health.js';
import { Pipeline } from './pipeline.js';
import { SdNotify } from './sd-notify.js';

function sourceFor(c: Config['source']): EcgSource {
  if (c.kind === 'can') return new SocketCanSource({ iface: c.path, silenceMs: c.silenceMs });
  return new SerialSource({
    path: c.path,
    baudRate: c.baudRate,
    protocol: c.kind === 'slcan' ? 'slcan' : c.protocol,
    silenceMs: c.silenceMs,
    bitalinoChannels: c.bitalinoChannels,
    bitalinoEcgChannel: c.bitalinoEcgChannel,
  });
}

/** ADC → mV with the frame's own scale where the wire carries it, else the configured one. */
function scaleOf(c: Config['source'], f: SampleFrame): { gain: number; baseline: number } {
  if (f.gain !== undefined && f.baseline !== undefined) return { gain: f.gain, baseline: f.baseline };
  if (c.kind === 'serial' && c.protocol === 'bitalino') return BITALINO_ECG;
  return { gain: c.gain, baseline: c.baseline };
}

/**
 * `ecg-emotiond run --config FILE`: source → DSP → windows → model → decision → outbox/MQTT until
 * SIGTERM/SIGINT (stop the source, finish the inference in flight, flush, publish `offline`, exit
 * within 2 s). SIGHUP re-reads the config and applies what can change live (log level, decision);
 * an invalid file is logged and the running config kept.
 */
export async function runDaemon(configFile: string | undefined): Promise<void> {
  let config = await loadConfig(configFile);
  const log: Logger = createLogger(config.log.level);
  const sd = new SdNotify();
  // A first TensorRT engine build takes minutes on an Orin: ask systemd for the time up front.
  if (config.model.providers.includes('tensorrt')) await sd.extendTimeout(10 * 60_000);
  const outbox = await Outbox.open(config.outbox.dir, {
    maxBytes: config.outbox.maxBytes,
    fsync: config.outbox.fsync,
    fsyncIntervalMs: config.outbox.fsyncIntervalMs,
  }).catch((err: NodeJS.ErrnoException) => {
    // Without a writable outbox no event could be accepted safely: refuse to start, in one line.
    throw new ConfigError(configFile ?? '(defaults)', [
      `outbox.dir: ${config.outbox.dir} is not usable (${err.code ?? err.message})`,
    ]);
  });
  const eventLog = config.eventLog.path
    ? await EventLogWriter.open(config.eventLog.path, {
        ecg: config.eventLog.ecg,
        maxBytes: config.eventLog.maxBytes,
      }).catch(async (err: NodeJS.ErrnoException) => {
        await outbox.close();
        throw new ConfigError(configFile ?? '(defaults)', [
          `eventLog.path: ${config.eventLog.path} is not writable (${err.code ?? err.message})`,
        ]);
      })
    : null;
  const { pkg, engine } = await startModel(config.model, log).catch(async (err: Error) => {
    await outbox.close();
    await eventLog?.close();
    throw err;
  });
  // From here a failure must also stop the inference worker, or the process would linger.
  try {
    await serve();
  } finally {
    await engine.close().catch(() => {});
  }

  async function serve(): Promise<void> {
    const m = config.mqtt;
    const startedAt = new Date().toISOString();
    const publisher = new MqttPublisher({
      url: m.url,
      clientId: m.clientId ?? `ecg-emotiond-${config.vehicleId}`,
      baseTopic: `${m.prefix}/${config.vehicleId}`,
      outbox,
      info: () =>
        infoPayload({
          vehicleId: config.vehicleId,
          manifest: pkg.manifest,
          provider: engine.provider,
          config,
          startedAt,
        }),
      username: m.username ?? undefined,
      passwordFile: m.passwordFile ?? undefined,
      tls: {
        caFile: m.caFile ?? undefined,
        certFile: m.certFile ?? undefined,
        keyFile: m.keyFile ?? undefined,
      },
      reconnectMs: m.reconnectMs,
      maxReconnectMs: m.maxReconnectMs,
      messageExpiryS: m.messageExpiryS,
      log,
    });
    await publisher.start();
    eventLog?.begin({
      startedAt,
      vehicleId: config.vehicleId,
      manifest: pkg.manifest,
      provider: engine.provider,
      source: `${config.source.kind}:${config.source.path}`,
    });

    const source = sourceFor(config.source);
    let pipeline: Pipeline | null = null;
    let pipelineRate = 0;
    source.onState = (state, detail) => log.info({ state, detail }, `source ${state}: ${detail}`);
    source.onGap = (lost) => {
      log.warn({ lost }, `gap: ${lost ?? 'an unknown number of'} samples lost`);
      pipeline?.gap(lost ?? null);
    };
    const mv = new Float64Array(4096);
    const flags = new Uint8Array(4096);
    source.onFrame = (f, arrivalNs) => {
      const rate = f.sampleRateHz ?? config.source.sampleRateHz;
      if (!pipeline || rate !== pipelineRate) {
        // The chain is built for the input rate the wire reports (a new rate restarts it).
        pipeline = new Pipeline({ config, inputRateHz: rate, pkg, engine, publisher, log, eventLog });
        pipelineRate = rate;
        log.info({ sampleRateHz: rate }, `streaming at ${rate} Hz`);
      }
      const { gain, baseline } = scaleOf(config.source, f);
      const flag =
        (f.flags & FrameFlag.LeadOff ? SampleFlag.LeadOff : 0) |
        (f.flags & FrameFlag.Saturated ? SampleFlag.Saturated : 0);
      for (let i = 0; i < f.samples.length; i += mv.length) {
        const n = Math.min(mv.length, f.samples.length - i);
        for (let k = 0; k < n; k++) {
          mv[k] = (f.samples[i + k] - baseline) / gain;
          flags[k] = flag;
        }
        pipeline.push(mv.subarray(0, n), flags.subarray(0, n), arrivalNs);
      }
    };
    source.start();
    log.info({ source: config.source.path, model: pkg.manifest.name, broker: m.url }, 'ecg-emotiond running');
    await sd.ready(`running ${pkg.manifest.name} on ${engine.provider}`);

    // Liveness, for the watchdog and /healthz: samples arriving (or the source honestly reporting
    // silence or disconnection, which it retries on its own) and inference not stuck.
    let lastSamples = -1;
    let lastChange = Date.now();
    let busySince = 0;
    let alive = true;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const tickMs = Math.min(1000, sd.watchdogIntervalMs ?? 1000);
    const ticker = setInterval(() => {
      const samples = (pipeline as Pipeline | null)?.stats.samples ?? 0;
      if (samples !== lastSamples) lastChange = Date.now();
      lastSamples = samples;
      // A connected source gets its silence timeout (twice) before a lack of samples counts.
      const flowing = source.state !== 'connected' || Date.now() - lastChange <= 2 * config.source.silenceMs;
      busySince = engine.busy ? busySince || Date.now() : 0;
      const stuck = busySince > 0 && Date.now() - busySince > 5000;
      const was = alive;
      alive = flowing && !stuck;
      if (alive && sd.watchdogIntervalMs) void sd.watchdog();
      if (was && !alive) log.warn({ flowing, stuck }, 'pipeline not alive: watchdog not fed');
    }, tickMs);
    const idle: PipelineView = {
      samples: 0,
      windows: { good: 0, acceptable: 0, unusable: 0 },
      droppedBusy: 0,
      events: { new: 0, update: 0, end: 0 },
      dsp: null,
      inference: null,
      publish: null,
      total: null,
    };
    const snapshot = (): HealthSnapshot => ({
      ...((pipeline as Pipeline | null)?.stats ?? idle),
      alive,
      source: { state: source.state, ...source.stats },
      outboxDepth: outbox.depth,
      outboxDropped: outbox.report.droppedOldest,
      outboxRefused: publisher.refused,
      mqttConnected: publisher.connected,
      mqttConnects: publisher.connects,
      eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      rssBytes: process.memoryUsage.rss(),
    });
    const health = config.health.enabled
      ? await startHealthServer(config.health.host, config.health.port, snapshot)
      : null;
    const startedMs = Date.now();
    const statsTimer =
      m.statsIntervalS > 0
        ? setInterval(() => {
            const s = snapshot();
            const inference = s.inference?.count ? s.inference.percentile(0.5) : null;
            void publisher.publish(
              'stats',
              statsPayload({
                uptimeS: (Date.now() - startedMs) / 1000,
                samples: s.samples,
                windows: s.windows,
                events: s.events.new + s.events.update + s.events.end,
                outboxDepth: s.outboxDepth,
                reconnects: s.source.reconnects + Math.max(0, s.mqttConnects - 1),
                crcErrors: s.source.crcErrors,
                inferenceP50Ms: inference,
              }),
            );
          }, m.statsIntervalS * 1000)
        : null;
    if (health)
      log.info(
        { port: config.health.port },
        `health on http://${config.health.host}:${config.health.port}/healthz and /metrics`,
      );

    process.on('SIGHUP', () => {
      void loadConfig(configFile).then(
        (next) => {
          log.level = next.log.level;
          Object.assign(config.decision, next.decision); // the decider holds this object
          config = { ...config, log: next.log };
          log.info(
            { logLevel: next.log.level, decision: next.decision },
            'configuration re-read: log level and decision settings applied (others need a restart)',
          );
        },
        (err: Error) =>
          log.error(
            { err: err instanceof ConfigError ? err.message : String(err) },
            'SIGHUP: config not applied, keeping the running one',
          ),
      );
    });
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    const t0 = Date.now();
    clearInterval(ticker);
    if (statsTimer) clearInterval(statsTimer);
    health?.close();
    void sd.stopping();
    const hardStop = setTimeout(() => {
      log.error('shutdown took longer than 2 s; exiting');
      process.exit(1);
    }, 2000);
    hardStop.unref();
    await source.stop();
    await (pipeline as Pipeline | null)?.drain();
    await publisher.stop();
    await outbox.close();
    await eventLog?.close();
    log.info({ ms: Date.now() - t0, pending: outbox.depth }, 'stopped');
  }
}
