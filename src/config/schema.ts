import { DEFAULT_DECISION, type DecisionOptions } from '../decision/decider.js';
import { DEFAULT_THRESHOLDS, type QualityThresholds } from '../dsp/quality.js';

const Q = DEFAULT_THRESHOLDS;
const D = DEFAULT_DECISION;

type TunableThreshold =
  | 'maxSaturatedFraction'
  | 'maxSwingMv'
  | 'minHrBpm'
  | 'maxHrBpm'
  | 'maxPauseS'
  | 'maxRrRatio'
  | 'minKurtosis'
  | 'goodKurtosis';

/** Daemon configuration. Every key has a default; see README "Configuration". */
export interface Config {
  vehicleId: string;
  dsp: {
    /** Frame size in which samples are fed through the chain. */
    frameSamples: number;
    highpassHz: number;
    lowpassHz: number;
    /** Mains frequency to notch (50 in Europe/Asia, 60 in the Americas), or null. */
    notchHz: 50 | 60 | null;
    notchQ: number;
    /** Longest delay between an R peak and its detection, seconds. */
    maxDecisionDelayS: number;
  };
  /** The quality thresholds a deployment may tune (the rest stay as designed). */
  quality: Pick<QualityThresholds, TunableThreshold>;
  model: {
    /** Model package directory; a relative path is taken from the install directory. */
    dir: string;
    /** Execution providers in priority order, each tried alone. */
    providers: ('tensorrt' | 'cuda' | 'cpu')[];
    /** onnxruntime intra-op threads. */
    threads: number;
    /** Idle onnxruntime threads spin-wait: lower latency, CPU burnt between windows. */
    spinning: boolean;
    tensorrt: {
      fp16: boolean;
      /** Built TensorRT engines are kept here (null: rebuilt at every start, minutes on an Orin). */
      engineCacheDir: string | null;
      maxWorkspaceBytes: number;
    };
  };
  source: {
    /** serial (UART, USB, Bluetooth SPP, pty), can (SocketCAN), slcan (USB-CAN adapter). */
    kind: 'serial' | 'can' | 'slcan';
    /** Device path (serial, slcan) or interface (can). */
    path: string;
    baudRate: number;
    protocol: 'ecg-serial' | 'ascii' | 'bitalino';
    /** For protocols that do not carry them (ascii; BITalino has its own). */
    sampleRateHz: number;
    gain: number;
    baseline: number;
    /** BITalino analog channels to enable (0 = A1) and the one carrying ECG. */
    bitalinoChannels: number[];
    bitalinoEcgChannel: number;
    silenceMs: number;
  };
  mqtt: {
    url: string;
    /** Topics go under `<prefix>/<vehicleId>/`. */
    prefix: string;
    clientId: string | null;
    username: string | null;
    /** Read at connect (systemd: LoadCredential= → $CREDENTIALS_DIRECTORY/…); never logged. */
    passwordFile: string | null;
    caFile: string | null;
    certFile: string | null;
    keyFile: string | null;
    /** MQTT 5 message expiry of events, seconds (0: none). */
    messageExpiryS: number;
    /**
     * MQTT keepalive, seconds: a link that carries nothing back for 1.5x this long is declared
     * dead and reconnected (a tunnel or a forgotten NAT mapping closes nothing).
     */
    keepaliveS: number;
    /** From opening the connection to the broker's CONNACK, ms; past it, retried with backoff. */
    connectTimeoutMs: number;
    /** MQTT 5 session expiry, seconds; 0: a clean session at every connect. */
    sessionExpiryS: number;
    reconnectMs: number;
    maxReconnectMs: number;
    /** Also publish `vss/Vehicle.Driver.HeartRate` (uint16 bpm). */
    vssMirror: boolean;
    /** Seconds between `stats` messages; 0: none. */
    statsIntervalS: number;
  };
  outbox: {
    dir: string;
    maxBytes: number;
    fsync: 'always' | 'interval' | 'never';
    fsyncIntervalMs: number;
  };
  decision: DecisionOptions;
  eventLog: {
    /** JSONL log of windows, decisions and the cleaned ECG, for `report`; off when null. */
    path: string | null;
    ecg: boolean;
    maxBytes: number;
    /** Earlier files kept beside it (`.1` newest): runs and size rotations alike. */
    keep: number;
  };
  health: {
    /** HTTP /healthz and /metrics (Prometheus) on `host:port`; off unless asked. */
    enabled: boolean;
    host: string;
    port: number;
  };
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  };
}

/** JSON Schema (draft-07) of Config; Ajv fills defaults while validating. */
export const configSchema = {
  $id: 'https://ecg-emotiond/config.schema.json',
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    vehicleId: { type: 'string', default: 'vehicle', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    dsp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        frameSamples: { type: 'integer', minimum: 1, maximum: 4096, default: 20 },
        highpassHz: { type: 'number', exclusiveMinimum: 0, maximum: 5, default: 0.5 },
        lowpassHz: { type: 'number', minimum: 20, maximum: 150, default: 40 },
        notchHz: { type: ['integer', 'null'], enum: [50, 60, null], default: 50 },
        notchQ: { type: 'number', minimum: 1, maximum: 100, default: 30 },
        maxDecisionDelayS: { type: 'number', minimum: 0.35, maximum: 2, default: 0.5 },
      },
    },
    quality: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        maxSaturatedFraction: { type: 'number', minimum: 0, maximum: 1, default: Q.maxSaturatedFraction },
        maxSwingMv: { type: 'number', exclusiveMinimum: 0, maximum: 1000, default: Q.maxSwingMv },
        minHrBpm: { type: 'number', minimum: 10, maximum: 100, default: Q.minHrBpm },
        maxHrBpm: { type: 'number', minimum: 100, maximum: 300, default: Q.maxHrBpm },
        maxPauseS: { type: 'number', exclusiveMinimum: 0, maximum: 60, default: Q.maxPauseS },
        maxRrRatio: { type: 'number', minimum: 1, maximum: 100, default: Q.maxRrRatio },
        minKurtosis: { type: 'number', minimum: 0, maximum: 1000, default: Q.minKurtosis },
        goodKurtosis: { type: 'number', minimum: 0, maximum: 1000, default: Q.goodKurtosis },
      },
    },
    model: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        dir: { type: 'string', minLength: 1, default: 'models/driver-stress-drivedb' },
        providers: {
          type: 'array',
          items: { enum: ['tensorrt', 'cuda', 'cpu'] },
          minItems: 1,
          uniqueItems: true,
          default: ['tensorrt', 'cuda', 'cpu'],
        },
        threads: { type: 'integer', minimum: 0, maximum: 64, default: 2 },
        spinning: { type: 'boolean', default: false },
        tensorrt: {
          type: 'object',
          additionalProperties: false,
          default: {},
          required: [],
          properties: {
            fp16: { type: 'boolean', default: true },
            engineCacheDir: {
              type: ['string', 'null'],
              minLength: 1,
              default: '/var/cache/ecg-emotiond/tensorrt',
            },
            maxWorkspaceBytes: {
              type: 'integer',
              minimum: 1048576,
              maximum: 68719476736,
              default: 1073741824,
            },
          },
        },
      },
    },
    source: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        kind: { enum: ['serial', 'can', 'slcan'], default: 'serial' },
        path: { type: 'string', minLength: 1, default: '/dev/ecg-sensor' },
        baudRate: { type: 'integer', minimum: 300, maximum: 4000000, default: 115200 },
        protocol: { enum: ['ecg-serial', 'ascii', 'bitalino'], default: 'ecg-serial' },
        sampleRateHz: { type: 'number', minimum: 50, maximum: 10000, default: 500 },
        gain: { type: 'number', exclusiveMinimum: 0, maximum: 1e9, default: 200 },
        baseline: { type: 'number', minimum: -1e9, maximum: 1e9, default: 0 },
        bitalinoChannels: {
          type: 'array',
          items: { type: 'integer', minimum: 0, maximum: 5 },
          minItems: 1,
          uniqueItems: true,
          default: [1],
        },
        bitalinoEcgChannel: { type: 'integer', minimum: 0, maximum: 5, default: 1 },
        silenceMs: { type: 'integer', minimum: 100, maximum: 600000, default: 1000 },
      },
    },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        url: { type: 'string', pattern: '^(mqtts?|wss?)://', default: 'mqtt://127.0.0.1:1883' },
        prefix: { type: 'string', pattern: '^[^#+/][^#+]*$', default: 'ecg-emotiond' },
        clientId: { type: ['string', 'null'], default: null },
        username: { type: ['string', 'null'], default: null },
        passwordFile: { type: ['string', 'null'], default: null },
        caFile: { type: ['string', 'null'], default: null },
        certFile: { type: ['string', 'null'], default: null },
        keyFile: { type: ['string', 'null'], default: null },
        messageExpiryS: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0 },
        keepaliveS: { type: 'integer', minimum: 5, maximum: 65535, default: 30 },
        connectTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600000, default: 30000 },
        sessionExpiryS: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0 },
        reconnectMs: { type: 'integer', minimum: 50, maximum: 600000, default: 500 },
        maxReconnectMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 10000 },
        vssMirror: { type: 'boolean', default: false },
        statsIntervalS: { type: 'number', minimum: 0, maximum: 86400, default: 60 },
      },
    },
    outbox: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        dir: { type: 'string', minLength: 1, default: '/var/lib/ecg-emotiond/outbox' },
        maxBytes: { type: 'integer', minimum: 65536, maximum: 1099511627776, default: 67108864 },
        fsync: { enum: ['always', 'interval', 'never'], default: 'always' },
        fsyncIntervalMs: { type: 'integer', minimum: 10, maximum: 60000, default: 1000 },
      },
    },
    decision: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        smoothing: { enum: ['ema', 'majority'], default: D.smoothing },
        emaAlpha: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: D.emaAlpha },
        majorityWindows: { type: 'integer', minimum: 1, maximum: 100, default: D.majorityWindows },
        minConfidence: { type: 'number', minimum: 0, maximum: 1, default: D.minConfidence },
        hysteresis: { type: 'number', minimum: 0, maximum: 1, default: D.hysteresis },
        endAfterUnusable: { type: 'integer', minimum: 1, maximum: 1000, default: D.endAfterUnusable },
      },
    },
    eventLog: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        path: { type: ['string', 'null'], minLength: 1, default: null },
        ecg: { type: 'boolean', default: true },
        maxBytes: { type: 'integer', minimum: 65536, maximum: 1099511627776, default: 67108864 },
        keep: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
      },
    },
    health: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        enabled: { type: 'boolean', default: false },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 1, maximum: 65535, default: 9464 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      required: [],
      properties: {
        level: {
          type: 'string',
          enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
          default: 'info',
        },
      },
    },
  },
} as const;
