import { DEFAULT_THRESHOLDS, type QualityThresholds } from '../dsp/quality.js';

const Q = DEFAULT_THRESHOLDS;

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
        maxSwingMv: { type: 'number', exclusiveMinimum: 0, default: Q.maxSwingMv },
        minHrBpm: { type: 'number', minimum: 10, maximum: 100, default: Q.minHrBpm },
        maxHrBpm: { type: 'number', minimum: 100, maximum: 300, default: Q.maxHrBpm },
        maxPauseS: { type: 'number', exclusiveMinimum: 0, default: Q.maxPauseS },
        maxRrRatio: { type: 'number', minimum: 1, default: Q.maxRrRatio },
        minKurtosis: { type: 'number', minimum: 0, default: Q.minKurtosis },
        goodKurtosis: { type: 'number', minimum: 0, default: Q.goodKurtosis },
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
