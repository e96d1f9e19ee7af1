import { createServer, type Server } from 'node:http';
import { ConfigError } from '../config/load.js';
import type { LatencyStats } from '../pipeline/latency.js';
import type { BrokerLink, EventBus, PipelineEvents } from '../pipeline/events.js';
import type { PipelineStats } from '../pipeline/pipeline.js';
import type { Sink } from './sink.js';

type Stage = 'dsp' | 'inference' | 'total';

/** The pipeline's counters as /metrics shows them; no latency histogram before the first window. */
export type PipelineView = Omit<PipelineStats, Stage> & { [K in Stage]: LatencyStats | null };

export interface HealthSnapshot extends PipelineView {
  /** From a decision to its event stored in the outbox (the MQTT sink's). */
  publish: LatencyStats | null;
  /** Pipeline liveness (as the systemd watchdog sees it), not just "process up". */
  alive: boolean;
  /** Why it is not alive; null while alive. */
  livenessProblem: string | null;
  source: {
    state: string;
    crcErrors: number;
    malformed: number;
    gaps: number;
    lostSamples: number;
    reconnects: number;
    implausible?: number;
  };
  outboxDepth: number;
  outboxDropped: number;
  /** Records cut from a torn or corrupt outbox at start: accepted events lost, at most. */
  outboxCutRecords: number;
  /** Events the outbox could not store. */
  outboxRefused: number;
  /** Whether the outbox took the last event: delivery is safe even while the broker is away. */
  outboxAccepting: boolean;
  mqttConnected: boolean;
  mqttConnects: number;
  broker: BrokerLink;
  eventLoopDelayP99Ms: number;
  rssBytes: number;
}

function histogram(name: string, help: string, h: LatencyStats | null): string[] {
  if (!h) return [];
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  let cum = 0;
  h.bounds.forEach((b, i) => {
    cum += h.buckets[i];
    lines.push(`${name}_bucket{le="${b / 1000}"} ${cum}`);
  });
  lines.push(
    `${name}_bucket{le="+Inf"} ${h.count}`,
    `${name}_sum ${h.sumMs / 1000}`,
    `${name}_count ${h.count}`,
  );
  return lines;
}

const metric = (name: string, type: 'counter' | 'gauge', help: string, values: [string, number][]) => [
  `# HELP ${name} ${help}`,
  `# TYPE ${name} ${type}`,
  ...values.map(([labels, v]) => `${name}${labels} ${v}`),
];

/**
 * What keeps the daemon from doing its job, one line per failing part; empty: ready. Ready means
 * the pipeline alive, the sensor delivering, and events either reaching the broker or stored in
 * the outbox for it (the model is loaded before the daemon starts at all).
 */
export function notReady(s: HealthSnapshot): string[] {
  const failing: string[] = [];
  if (!s.alive) failing.push(`pipeline: ${s.livenessProblem ?? 'not alive'}`);
  if (s.source.state !== 'connected') failing.push(`source: ${s.source.state}`);
  if (!s.mqttConnected && !s.outboxAccepting)
    failing.push('delivery: the broker is not connected and the outbox refuses events');
  return failing;
}

/** Prometheus text exposition of a snapshot. */
export function metricsText(s: HealthSnapshot): string {
  return `${[...pipelineMetrics(s), ...deliveryMetrics(s), ...sourceMetrics(s), ...latencyMetrics(s)].join('\n')}\n`;
}

function pipelineMetrics(s: HealthSnapshot): string[] {
  return [
    ...metric(
      'ecg_emotiond_up',
      'gauge',
      'Pipeline alive (samples flowing or the source honestly silent; inference not stuck)',
      [['', s.alive ? 1 : 0]],
    ),
    ...metric(
      'ecg_emotiond_ready',
      'gauge',
      'Doing its job: pipeline alive, sensor delivering, events reaching the broker or the outbox (see /readyz)',
      [['', notReady(s).length === 0 ? 1 : 0]],
    ),
    ...metric('ecg_emotiond_samples_total', 'counter', 'ECG samples received', [['', s.samples]]),
    ...metric('ecg_emotiond_windows_total', 'counter', 'Model windows by quality', [
      ['{quality="good"}', s.windows.good],
      ['{quality="acceptable"}', s.windows.acceptable],
      ['{quality="unusable"}', s.windows.unusable],
    ]),
    ...metric(
      'ecg_emotiond_windows_skipped_busy_total',
      'counter',
      'Usable windows skipped while the model was busy',
      [['', s.droppedBusy]],
    ),
    ...metric('ecg_emotiond_events_total', 'counter', 'Emotion events by lifecycle type', [
      ['{type="new"}', s.events.new],
      ['{type="update"}', s.events.update],
      ['{type="end"}', s.events.end],
    ]),
  ];
}

function deliveryMetrics(s: HealthSnapshot): string[] {
  return [
    ...metric('ecg_emotiond_outbox_depth', 'gauge', 'Events waiting for the broker PUBACK', [
      ['', s.outboxDepth],
    ]),
    ...metric(
      'ecg_emotiond_outbox_dropped_total',
      'counter',
      'Oldest events dropped at the outbox size bound',
      [['', s.outboxDropped]],
    ),
    ...metric(
      'ecg_emotiond_outbox_cut_records_total',
      'counter',
      'Records cut from a torn or corrupt outbox at start (accepted events lost, at most)',
      [['', s.outboxCutRecords]],
    ),
    ...metric(
      'ecg_emotiond_outbox_refused_total',
      'counter',
      'Events the outbox could not store (disk full, I/O error)',
      [['', s.outboxRefused]],
    ),
    ...metric('ecg_emotiond_mqtt_connected', 'gauge', 'Connected to the broker', [
      ['', s.mqttConnected ? 1 : 0],
    ]),
    ...metric('ecg_emotiond_mqtt_reconnects_total', 'counter', 'Broker connections after the first', [
      ['', Math.max(0, s.mqttConnects - 1)],
    ]),
  ];
}

function sourceMetrics(s: HealthSnapshot): string[] {
  return [
    ...metric('ecg_emotiond_source_connected', 'gauge', 'Sensor source state is connected', [
      ['', s.source.state === 'connected' ? 1 : 0],
    ]),
    ...metric('ecg_emotiond_source_crc_errors_total', 'counter', 'Frames dropped for a bad checksum', [
      ['', s.source.crcErrors],
    ]),
    ...metric(
      'ecg_emotiond_source_malformed_total',
      'counter',
      'Bytes, lines or frames that could not be parsed',
      [['', s.source.malformed]],
    ),
    ...metric(
      'ecg_emotiond_source_implausible_total',
      'counter',
      'Frames dropped for an implausible sample rate, gain or baseline',
      [['', s.source.implausible ?? 0]],
    ),
    ...metric('ecg_emotiond_source_gaps_total', 'counter', 'Sequence gaps', [['', s.source.gaps]]),
    ...metric('ecg_emotiond_source_lost_samples_total', 'counter', 'Samples lost in sequence gaps', [
      ['', s.source.lostSamples],
    ]),
    ...metric('ecg_emotiond_source_reconnects_total', 'counter', 'Source reconnects', [
      ['', s.source.reconnects],
    ]),
  ];
}

function latencyMetrics(s: HealthSnapshot): string[] {
  return [
    ...histogram(
      'ecg_emotiond_dsp_seconds',
      'From the ingress of the completing frame to the window rated (resample, clean, R-peaks, quality)',
      s.dsp,
    ),
    ...histogram('ecg_emotiond_inference_seconds', 'session.run time of a window', s.inference),
    ...histogram(
      'ecg_emotiond_publish_seconds',
      'From a decision to its event stored in the outbox',
      s.publish,
    ),
    ...histogram(
      'ecg_emotiond_window_latency_seconds',
      'From the ingress of the completing frame to the published decision',
      s.total,
    ),
    ...metric('ecg_emotiond_event_loop_delay_p99_seconds', 'gauge', 'Main event-loop delay, p99', [
      ['', s.eventLoopDelayP99Ms / 1000],
    ]),
    ...metric('ecg_emotiond_resident_memory_bytes', 'gauge', 'RSS', [['', s.rssBytes]]),
  ];
}

/** The daemon's counters as the health sink reads them; liveness comes from the `liveness` event. */
export type DaemonSnapshot = Omit<HealthSnapshot, 'alive' | 'livenessProblem'>;

/**
 * GET /healthz (200 alive, 503 not), GET /readyz (200 streaming and connected) and GET /metrics:
 * the daemon's snapshot, read at each request, with the liveness its last tick reported.
 */
export class HealthSink implements Sink {
  private alive = true;
  private livenessProblem: string | null = null;
  private server: Server | null = null;

  constructor(
    private readonly o: {
      host: string;
      port: number;
      snapshot: () => DaemonSnapshot;
      /** How the config was given, for the error when the port is taken. */
      configName: string;
    },
  ) {}

  attach(events: EventBus<PipelineEvents>): void {
    events.on('liveness', (alive, problem) => {
      this.alive = alive;
      this.livenessProblem = problem;
    });
  }

  /** Listens; a port that cannot be had is a config error naming `health.port`. */
  async start(): Promise<void> {
    const { host, port } = this.o;
    this.server = await listen(host, port, () => ({
      ...this.o.snapshot(),
      alive: this.alive,
      livenessProblem: this.livenessProblem,
    })).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(this.o.configName, [
        `health.port: ${host}:${port} is not usable (${err.code ?? err.message})`,
      ]);
    });
  }

  async close(): Promise<void> {
    this.server?.close();
  }
}

function listen(host: string, port: number, snapshot: () => HealthSnapshot): Promise<Server> {
  const server = createServer((req, res) => {
    const s = snapshot();
    if (req.url === '/healthz') {
      res.writeHead(s.alive ? 200 : 503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          alive: s.alive,
          problem: s.livenessProblem,
          source: s.source.state,
          samples: s.samples,
          events: s.events,
          mqttConnected: s.mqttConnected,
          outboxDepth: s.outboxDepth,
        }),
      );
    } else if (req.url === '/readyz') {
      // Liveness (/healthz) stays 200 while a missing sensor or broker is retried; readiness says
      // the service is doing its job, and names every part that keeps it from it.
      const failing = notReady(s);
      res.writeHead(failing.length === 0 ? 200 : 503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ready: failing.length === 0,
          notReady: failing,
          source: s.source.state,
          mqttConnected: s.mqttConnected,
          broker: s.broker,
          outboxAccepting: s.outboxAccepting,
          outboxDepth: s.outboxDepth,
        }),
      );
    } else if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metricsText(s));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
