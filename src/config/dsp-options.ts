import type { CleaningOptions } from '../dsp/chain.js';
import { DEFAULT_THRESHOLDS, type QualityThresholds } from '../dsp/quality.js';
import type { Config } from './schema.js';

export function cleaningFrom(config: Config): CleaningOptions {
  const d = config.dsp;
  return { highpassHz: d.highpassHz, lowpassHz: d.lowpassHz, notchHz: d.notchHz, notchQ: d.notchQ };
}

export function thresholdsFrom(config: Config): QualityThresholds {
  return { ...DEFAULT_THRESHOLDS, ...config.quality };
}
