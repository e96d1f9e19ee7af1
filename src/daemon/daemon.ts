import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../log.js';
import type { ModelPackage } from '../model/package/model-package.js';
import type { InferenceEngine } from '../model/runtime/engine.js';
import { startModel } from '../model/runtime/load-model.js';
import { MqttPublisher } from '../publish/mqtt-publisher.js';
import { Outbox, OutboxInUseError } from '../publish/outbox.js';
import { infoPayload } from '../publish/payloads.js';
import { redactUrl } from '../redact.js';
import { EventLogWriter } from '../report/event-log.js';
import { EventLogSink } from '../sinks/event-log-sink.js';
import { MqttSink } from '../sinks/mqtt-sink.js';
import type { Sink } from '../sinks/sink.js';
import { sourceFromConfig } from '../sources/from-config.js';
import { ScaledSource } from '../sources/scaled-source.js';
import type { EcgFrame, EcgSource } from '../sources/source.js';
import { EventBus, type PipelineEvents } from '../pipeline/events.js';
import { type DaemonSnapshot, HealthSink, notReady } from '../sinks/health.js';
import { SdNotify } from '../sinks/sd-notify.js';
import { WatchdogSink } from '../sinks/watchdog-sink.js';
import { Liveness } from './liveness.js';
import { emptyPipelineStats, Pipeline } from '../pipeline/pipeline.js';

/** Parts a caller may bring instead of the ones the config describes. */
export interface DaemonParts {
  /** The ECG source; by default the sensor `config.source` names. */
  source?: EcgSource;
  /** Sinks beside MQTT and the event log (they subscribe to `daemon.events`). */
  sinks?: Sink[];
  /** Wall clock of a window's end, epoch ms (a replayed record maps its own time here). */
  clock?: () => number;
  log?: Logger;
  /** 4 for brokers without MQTT 5 (the demo's embedded aedes). */
  mqttProtocolVersion?: 4 | 5;
  /** How the config was given, for error messages: its path or `(defaults)`. */
  configName?: string;
}

/** What a new config changed: applied while running, or waiting for a restart. */
export interface Reconfigured {
  applied: string[];
  needsRestart: string[];
}

async function openOutbox(config: Config, name: string): Promise<Outbox> {
  const o = config.outbox;
  return Outbox.open(o.dir, {
    maxBytes: o.maxBytes,
    fsync: o.fsync,
    fsyncIntervalMs: o.fsyncIntervalMs,
  }).catch((err: NodeJS.ErrnoException) => {
    // Without a writable outbox no event could be accepted safely: refuse to start.
    const why = err instanceof OutboxInUseError ? err.message : (err.code ?? err.message);
    throw new ConfigError(name, [`outbox.dir: ${o.dir} is not usable (${why})`]);
  });
}

async function openEventLog(config: Config, name: string): Promise<EventLogWriter | null> {
  const e = config.eventLog;
  if (!e.path) return null;
  return EventLogWriter.open(e.path, { ecg: e.ecg, maxBytes: e.maxBytes, keep: e.keep }).catch(
    (err: NodeJS.ErrnoException) => {
      throw new ConfigError(name, [`eventLog.path: ${e.path} is not writable (${err.code ?? err.message})`]);
    },
  );
}

/** The MQTT credential and TLS files must be readable before anything starts. */
async function checkCredentialFiles(config: Config, name: string): Promise<void> {
  const m = config.mqtt;
  const files = { passwordFile: m.passwordFile, caFile: m.caFile, certFile: m.certFile, keyFile: m.keyFile };
  const problems: string[] = [];
  for (const [key, file] of Object.entries(files)) {
    if (!file) continue;
    await access(file, constants.R_OK).catch((err: NodeJS.ErrnoException) =>
      problems.push(`mqtt.${key}: ${file} is not readable (${err.code ?? err.message})`),
    );
  }
  if (problems.length) throw new ConfigError(name, problems);
}

/** Settings a running daemon takes over without a restart. */
const LIVE_SECTIONS = ['log', 'decision'] as const;

/**
 * The one composition root: a validated config (plus optional parts) in, a running daemon out.
 * Source → Pipeline (typed events) → sinks: MQTT through the outbox, the event log, health and
 * metrics (which read the daemon's snapshot at each request), the systemd watchdog (fed on the
 * daemon's liveness ticks), any extra. `run`, `demo` and the benchmarks all build it here.
 */
export class Daemon {
  readonly events = new EventBus<PipelineEvents>();
  readonly stats = emptyPipelineStats();
  readonly source: EcgSource;
  readonly mqtt: MqttSink;
  readonly publisher: MqttPublisher;
  private pipeline: Pipeline | null = null;
  private readonly sinks: Sink[];
  private readonly liveness: Liveness;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private timers: NodeJS.Timeout[] = [];
  private startedMs = 0;

  private constructor(
    private config: Config,
    readonly log: Logger,
    readonly pkg: ModelPackage,
    readonly engine: InferenceEngine,
    readonly outbox: Outbox,
    private readonly eventLog: EventLogWriter | null,
    private readonly sd: SdNotify,
    private readonly parts: DaemonParts,
  ) {
    this.source = parts.source ?? sourceFromConfig(config.source);
    this.publisher = this.buildPublisher();
    this.mqtt = new MqttSink(this.publisher, { vssMirror: config.mqtt.vssMirror });
    const h = config.health;
    this.sinks = [
      this.mqtt,
      ...(eventLog ? [new EventLogSink(eventLog)] : []),
      ...(h.enabled
        ? [
            new HealthSink({
              host: h.host,
              port: h.port,
              snapshot: () => this.snapshot(),
              configName: parts.configName ?? '(defaults)',
            }),
          ]
        : []),
      new WatchdogSink(sd, log),
      ...(parts.sinks ?? []),
    ];
    this.liveness = new Liveness({
      samples: () => this.stats.samples,
      sourceConnected: () => this.source.state === 'connected',
      inferenceRunningMs: () => this.engine.runningMs,
      silenceMs: config.source.silenceMs,
    });
  }

  /**
   * Opens what must work before anything runs: the outbox, the event log, the model. A failure is
   * one ConfigError line naming the setting, and whatever was opened is closed again.
   */
  static async open(config: Config, parts: DaemonParts = {}): Promise<Daemon> {
    const log = parts.log ?? createLogger(config.log.level);
    const name = parts.configName ?? '(defaults)';
    const sd = new SdNotify();
    // A first TensorRT engine build takes minutes on an Orin: ask systemd for the time up front.
    if (config.model.providers.includes('tensorrt')) await sd.extendTimeout(10 * 60_000);
    const opened: { close(): Promise<void> }[] = [];
    try {
      const outbox = await openOutbox(config, name);
      opened.push(outbox);
      const eventLog = await openEventLog(config, name);
      if (eventLog) opened.push(eventLog);
      await checkCredentialFiles(config, name);
      const model = await startModel(config.model, log);
      return new Daemon(config, log, model.pkg, model.engine, outbox, eventLog, sd, parts);
    } catch (err) {
      for (const part of opened.reverse()) await part.close().catch(() => {});
      throw err;
    }
  }

  /** Connects to the broker, starts the source and the timers, then tells systemd it is ready. */
  async start(): Promise<void> {
    const startedAt = new Date().toISOString();
    this.startedMs = Date.now();
    for (const sink of this.sinks) sink.attach(this.events);
    this.info = () =>
      infoPayload({
        vehicleId: this.config.vehicleId,
        manifest: this.pkg.manifest,
        provider: this.engine.provider,
        config: this.config,
        startedAt,
      });
    await this.publisher.start();
    this.eventLog?.begin({
      startedAt,
      vehicleId: this.config.vehicleId,
      manifest: this.pkg.manifest,
      provider: this.engine.provider,
      source: this.source.name,
      ...(this.source.record ? { record: this.source.record } : {}),
      ...(this.source.origin ? { origin: this.source.origin } : {}),
    });
    this.wireSource();
    this.source.start();
    this.loopDelay.enable();
    this.startTimers();
    for (const sink of this.sinks) await sink.start?.();
    const h = this.config.health;
    if (h.enabled)
      this.log.info({ port: h.port }, `health on http://${h.host}:${h.port}/healthz and /metrics`);
    this.log.info(
      { source: this.source.name, model: this.pkg.manifest.name, broker: redactUrl(this.config.mqtt.url) },
      'ecg-emotiond running',
    );
    await this.sd.ready(`running ${this.pkg.manifest.name} on ${this.engine.provider}`);
  }

  /** Stops the source, finishes the inference in flight, flushes the sinks, says `offline`. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.loopDelay.disable();
    const stopping = this.sd.stopping();
    await this.source.stop();
    await this.drained();
    for (const sink of this.sinks) await sink.close?.();
    await this.publisher.stop();
    await this.outbox.close();
    await this.engine.close().catch(() => {});
    await stopping;
  }

  /** A replayed record has played out: the window in flight is decided and the open episode ends. */
  finishRecord(): Promise<void> {
    return this.pipeline?.finish() ?? Promise.resolve();
  }

  /** Resolves when the window in inference (if any) is decided. */
  drained(): Promise<void> {
    return this.pipeline?.drain() ?? Promise.resolve();
  }

  /**
   * Takes over a new config: the log level and decision settings apply at once (the decider reads
   * the same object); any other change is listed as needing a restart and not applied.
   */
  reconfigure(next: Config): Reconfigured {
    const changed = (Object.keys(next) as (keyof Config)[]).filter(
      (k) => JSON.stringify(next[k]) !== JSON.stringify(this.config[k]),
    );
    const live = (k: keyof Config) => (LIVE_SECTIONS as readonly string[]).includes(k);
    this.log.level = next.log.level;
    Object.assign(this.config.decision, next.decision);
    this.config = { ...this.config, log: next.log };
    return { applied: changed.filter(live), needsRestart: changed.filter((k) => !live(k)) };
  }

  snapshot(): DaemonSnapshot {
    const s = this.stats;
    const seen = this.pipeline !== null;
    const broker = this.publisher.link();
    return {
      ...s,
      dsp: seen ? s.dsp : null,
      inference: seen ? s.inference : null,
      total: seen ? s.total : null,
      publish: seen ? this.mqtt.publishLatency : null,
      source: { state: this.source.state, ...this.source.stats },
      outboxDepth: this.outbox.depth,
      outboxDropped: this.outbox.report.droppedOldest,
      outboxCutRecords: this.outbox.report.cutRecords,
      outboxRefused: this.publisher.refused,
      outboxAccepting: this.publisher.accepting,
      mqttConnected: broker.connected,
      mqttConnects: this.publisher.connects,
      broker,
      eventLoopDelayP99Ms: this.loopDelay.percentile(99) / 1e6,
      rssBytes: process.memoryUsage.rss(),
    };
  }

  /** The retained `info` payload (set at start, when the start time is known). */
  private info: () => unknown = () => ({});

  private buildPublisher(): MqttPublisher {
    const m = this.config.mqtt;
    return new MqttPublisher({
      url: m.url,
      clientId: m.clientId ?? `ecg-emotiond-${this.config.vehicleId}`,
      baseTopic: `${m.prefix}/${this.config.vehicleId}`,
      outbox: this.outbox,
      info: () => this.info(),
      username: m.username ?? undefined,
      passwordFile: m.passwordFile ?? undefined,
      tls: {
        caFile: m.caFile ?? undefined,
        certFile: m.certFile ?? undefined,
        keyFile: m.keyFile ?? undefined,
      },
      reconnectMs: m.reconnectMs,
      maxReconnectMs: m.maxReconnectMs,
      keepaliveS: m.keepaliveS,
      connectTimeoutMs: m.connectTimeoutMs,
      sessionExpiryS: m.sessionExpiryS,
      messageExpiryS: m.messageExpiryS,
      protocolVersion: this.parts.mqttProtocolVersion,
      log: this.log,
    });
  }

  /** Frames into the pipeline, built for the rate the source reports (a new rate restarts it). */
  private wireSource(): void {
    const log = this.log;
    this.source.onState = (state, detail) => log.info({ state, detail }, `source ${state}: ${detail}`);
    if (this.source instanceof ScaledSource) {
      this.source.onDropped = (kind, detail) =>
        log.warn({ kind, detail }, `frames dropped: ${kind} (${detail}); every one is counted on /metrics`);
    }
    this.source.onGap = (lost) => {
      log.warn({ lost }, `gap: ${lost ?? 'an unknown number of'} samples lost`);
      this.pipeline?.gap(lost);
    };
    let rate = 0;
    this.source.onFrame = (frame: EcgFrame, arrivalNs: bigint) => {
      if (!this.pipeline || frame.sampleRateHz !== rate) {
        rate = frame.sampleRateHz;
        this.pipeline = new Pipeline({
          config: this.config,
          inputRateHz: rate,
          pkg: this.pkg,
          engine: this.engine,
          log,
          events: this.events,
          stats: this.stats,
          clock: this.parts.clock,
        });
        log.info({ sampleRateHz: rate }, `streaming at ${rate} Hz`);
      }
      this.pipeline.push(frame, arrivalNs);
    };
  }

  /** The liveness tick (feeding the systemd watchdog) and the `stats` topic. */
  private startTimers(): void {
    const tickMs = Math.min(1000, this.sd.watchdogIntervalMs ?? 1000);
    const tick = setInterval(() => {
      this.liveness.tick();
      this.events.emit('liveness', this.liveness.alive, this.liveness.problem);
    }, tickMs);
    this.timers.push(tick);
    const every = this.config.mqtt.statsIntervalS;
    if (every > 0) this.timers.push(setInterval(() => this.publishStats(), every * 1000));
  }

  private publishStats(): void {
    const s = this.snapshot();
    const failing = notReady({ ...s, alive: this.liveness.alive, livenessProblem: this.liveness.problem });
    this.events.emit('stats', {
      uptimeS: (Date.now() - this.startedMs) / 1000,
      samples: s.samples,
      windows: s.windows,
      events: s.events.new + s.events.update + s.events.end,
      outboxDepth: s.outboxDepth,
      outboxLost: s.outboxCutRecords,
      reconnects: s.source.reconnects + Math.max(0, s.mqttConnects - 1),
      crcErrors: s.source.crcErrors,
      inferenceP50Ms: s.inference?.count ? s.inference.percentile(0.5) : null,
      ready: failing.length === 0,
      notReady: failing,
      broker: s.broker,
    });
  }
}
