import { createHash, randomUUID } from 'node:crypto';
import { type ModelManifest, modelRef } from '../model/package/manifest.js';
import { VERSION } from '../version.js';
import type { ValidateFunction } from 'ajv';
import { lazyValidator } from '../json-schema.js';
import type { EmotionContext, EmotionDecision } from '../decision/decider.js';
import type { DaemonStats } from '../pipeline/events.js';

/**
 * The MQTT contract: one JSON Schema per topic under `<prefix>/<vehicle_id>/` (also written to
 * schemas/mqtt/ for consumers; a test keeps the files equal to these). Times are wall clock (ISO
 * 8601 and epoch ms) plus a monotonic millisecond stamp for ordering within a boot.
 */
const time = {
  time: { type: 'string', format: 'date-time' },
  timeMs: { type: 'integer', minimum: 0 },
  monotonicMs: { type: 'number', minimum: 0 },
} as const;
const timeKeys = ['time', 'timeMs', 'monotonicMs'] as const;
const windowRef = {
  type: 'object',
  additionalProperties: false,
  required: ['startMs', 'endMs'],
  properties: { startMs: { type: 'integer' }, endMs: { type: 'integer' } },
} as const;
const model = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'precision'],
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    precision: { enum: ['fp32', 'int8'] },
    sha256: { type: 'string' },
  },
} as const;
const probability = { type: 'number', minimum: 0, maximum: 1 } as const;

export const TOPIC_SCHEMAS = {
  state: { $id: 'ecg-emotiond/mqtt/state', enum: ['online', 'offline'] },
  info: {
    $id: 'ecg-emotiond/mqtt/info',
    type: 'object',
    additionalProperties: false,
    required: ['version', 'vehicleId', 'model', 'provider', 'configDigest', 'startedAt'],
    properties: {
      version: { type: 'string' },
      vehicleId: { type: 'string' },
      model,
      provider: { type: 'string' },
      configDigest: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      startedAt: { type: 'string', format: 'date-time' },
    },
  },
  emotion: {
    $id: 'ecg-emotiond/mqtt/emotion',
    type: 'object',
    additionalProperties: false,
    required: [
      'eventId',
      'episodeId',
      'type',
      'label',
      'confidence',
      'probabilities',
      'heartRateBpm',
      'signalQuality',
      'window',
      'model',
      'provider',
      'latencyMs',
      ...timeKeys,
    ],
    properties: {
      eventId: { type: 'string', format: 'uuid' },
      episodeId: { type: 'string', format: 'uuid' },
      type: { enum: ['new', 'update', 'end'] },
      reason: { enum: ['label_changed', 'low_confidence', 'signal_lost', 'source_ended'] },
      label: { type: 'string' },
      confidence: probability,
      probabilities: { type: 'object', additionalProperties: probability, minProperties: 2 },
      heartRateBpm: { type: ['number', 'null'] },
      signalQuality: { enum: ['good', 'acceptable', 'unusable'] },
      window: windowRef,
      model,
      provider: { type: 'string' },
      latencyMs: {
        type: 'object',
        additionalProperties: false,
        required: ['inference', 'total'],
        properties: { inference: { type: 'number', minimum: 0 }, total: { type: 'number', minimum: 0 } },
      },
      ...time,
    },
  },
  'emotion/state': {
    $id: 'ecg-emotiond/mqtt/emotion-state',
    type: 'object',
    additionalProperties: false,
    required: ['label', 'episodeId', 'confidence', ...timeKeys],
    properties: {
      label: { type: ['string', 'null'] },
      episodeId: { type: ['string', 'null'] },
      confidence: { type: ['number', 'null'] },
      ...time,
    },
  },
  heart_rate: {
    $id: 'ecg-emotiond/mqtt/heart-rate',
    type: 'object',
    additionalProperties: false,
    required: ['bpm', 'rmssdMs', 'sdnnMs', 'pnn50', 'nnIntervals', 'window', ...timeKeys],
    properties: {
      bpm: { type: 'number', minimum: 0, maximum: 400 },
      rmssdMs: { type: ['number', 'null'] },
      sdnnMs: { type: ['number', 'null'] },
      pnn50: { type: ['number', 'null'], minimum: 0, maximum: 1 },
      nnIntervals: { type: 'integer', minimum: 0 },
      window: windowRef,
      ...time,
    },
  },
  signal_quality: {
    $id: 'ecg-emotiond/mqtt/signal-quality',
    type: 'object',
    additionalProperties: false,
    required: ['quality', 'reasons', 'window', ...timeKeys],
    properties: {
      quality: { enum: ['good', 'acceptable', 'unusable'] },
      reasons: { type: 'array', items: { type: 'string' } },
      window: windowRef,
      ...time,
    },
  },
  'vss/Vehicle.Driver.HeartRate': {
    $id: 'ecg-emotiond/mqtt/vss-heart-rate',
    type: 'object',
    additionalProperties: false,
    required: ['value', 'timeMs'],
    properties: {
      value: { type: 'integer', minimum: 0, maximum: 65535 },
      timeMs: { type: 'integer', minimum: 0 },
    },
  },
  stats: {
    $id: 'ecg-emotiond/mqtt/stats',
    type: 'object',
    additionalProperties: false,
    required: [
      'uptimeS',
      'samples',
      'windows',
      'events',
      'outboxDepth',
      'outboxLost',
      'reconnects',
      'crcErrors',
      'inferenceP50Ms',
      'ready',
      'notReady',
      'broker',
      ...timeKeys,
    ],
    properties: {
      uptimeS: { type: 'number', minimum: 0 },
      samples: { type: 'integer', minimum: 0 },
      windows: {
        type: 'object',
        additionalProperties: false,
        required: ['good', 'acceptable', 'unusable'],
        properties: {
          good: { type: 'integer' },
          acceptable: { type: 'integer' },
          unusable: { type: 'integer' },
        },
      },
      events: { type: 'integer', minimum: 0 },
      outboxDepth: { type: 'integer', minimum: 0 },
      /** Records cut from a torn outbox at start: accepted events lost, at most. */
      outboxLost: { type: 'integer', minimum: 0 },
      reconnects: { type: 'integer', minimum: 0 },
      crcErrors: { type: 'integer', minimum: 0 },
      inferenceP50Ms: { type: ['number', 'null'] },
      /** As GET /readyz: pipeline alive, sensor delivering, events reaching the broker or the outbox. */
      ready: { type: 'boolean' },
      /** Each part that keeps it from being ready, in words (empty when ready). */
      notReady: { type: 'array', items: { type: 'string' } },
      /**
       * The link to the broker when this was written: a `stats` stored during an outage arrives
       * afterwards and says how long the broker had been away, and why.
       */
      broker: {
        type: 'object',
        additionalProperties: false,
        required: ['connected', 'forS', 'lastError'],
        properties: {
          connected: { type: 'boolean' },
          forS: { type: 'number', minimum: 0 },
          lastError: { type: ['string', 'null'] },
        },
      },
      ...time,
    },
  },
} as const;

export type Topic = keyof typeof TOPIC_SCHEMAS;
export const TOPICS = Object.keys(TOPIC_SCHEMAS) as Topic[];

// Formats checked here without a dependency: the ones the contract uses.
const FORMATS = {
  'date-time': (s: string) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d\d-\d\dT/.test(s),
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};
const validators = new Map<Topic, () => ValidateFunction>(
  TOPICS.map((t) => [t, lazyValidator(TOPIC_SCHEMAS[t], {}, FORMATS)]),
);

/** Problems of a payload for a topic (empty when valid). */
export function payloadProblems(topic: Topic, payload: unknown): string[] {
  const v = validators.get(topic)!();
  if (v(payload)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword}`);
}

const stamp = (nowMs = Date.now()) => ({
  time: new Date(nowMs).toISOString(),
  timeMs: nowMs,
  monotonicMs: performance.now(),
});

/** An `emotion` event: every message has its own eventId (consumers drop duplicates by it). */
export function emotionPayload(d: EmotionDecision, c: EmotionContext) {
  return {
    eventId: randomUUID(),
    episodeId: d.episodeId,
    type: d.type,
    ...(d.reason ? { reason: d.reason } : {}),
    label: d.label,
    confidence: d.confidence,
    probabilities: d.probabilities,
    heartRateBpm: c.heartRateBpm,
    signalQuality: c.signalQuality,
    window: { startMs: Math.round(d.windowStartMs), endMs: Math.round(d.windowEndMs) },
    model: c.model,
    provider: c.provider,
    latencyMs: { inference: c.inferenceMs, total: c.totalMs },
    ...stamp(),
  };
}

export function emotionStatePayload(s: { label: string; episodeId: string; confidence: number } | null) {
  return {
    label: s?.label ?? null,
    episodeId: s?.episodeId ?? null,
    confidence: s?.confidence ?? null,
    ...stamp(),
  };
}

export function signalQualityPayload(
  quality: 'good' | 'acceptable' | 'unusable',
  reasons: string[],
  w: { startMs: number; endMs: number },
) {
  return {
    quality,
    reasons,
    window: { startMs: Math.round(w.startMs), endMs: Math.round(w.endMs) },
    ...stamp(),
  };
}

/** The periodic `stats` payload; `reconnects` counts the source's and the broker's. */
export function statsPayload(s: DaemonStats) {
  return { ...s, uptimeS: Math.round(s.uptimeS * 10) / 10, ...stamp() };
}

/** Heart rate over every beat; RMSSD, SDNN and pNN50 over the window's `nnIntervals` NN intervals. */
export function heartRatePayload(
  hrv: {
    bpm: number;
    rmssdMs: number | null;
    sdnnMs: number | null;
    pnn50: number | null;
    nnIntervals: number;
  },
  w: { startMs: number; endMs: number },
) {
  return {
    ...hrv,
    window: { startMs: Math.round(w.startMs), endMs: Math.round(w.endMs) },
    ...stamp(),
  };
}

/** The optional VSS mirror: `Vehicle.Driver.HeartRate` is a uint16 in bpm. */
export function vssHeartRatePayload(bpm: number, nowMs = Date.now()) {
  return { value: Math.max(0, Math.min(65535, Math.round(bpm))), timeMs: nowMs };
}

/** The retained `info` payload: what is running, for operators and fleet tools. */
export function infoPayload(o: {
  vehicleId: string;
  manifest: ModelManifest;
  provider: string;
  config: unknown;
  startedAt: string;
}) {
  return {
    version: VERSION,
    vehicleId: o.vehicleId,
    model: modelRef(o.manifest),
    provider: o.provider,
    configDigest: createHash('sha256').update(JSON.stringify(o.config)).digest('hex'),
    startedAt: o.startedAt,
  };
}
