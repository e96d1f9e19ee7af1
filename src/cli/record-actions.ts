// `analyze` and `peaks`: imported when one of them runs, so `--version` and `--help` stay fast.
import { analyzeRecord, summarize } from '../analysis/analyze-record.js';
import { formatEc57Table } from '../analysis/ec57.js';
import { expandRecords, scoreRecords } from '../analysis/peaks.js';
import { cleaningFrom, thresholdsFrom } from '../config/dsp-options.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

export interface RecordOpts {
  channel?: number | string;
  from?: number;
  to?: number;
  rate?: number;
  config?: string;
  json?: boolean;
}

async function configFor(opts: { config?: string }): Promise<Config> {
  return loadConfig(opts.config);
}

const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');

export async function analyzeCommand(record: string, opts: RecordOpts): Promise<void> {
  const config = await configFor(opts);
  const analysis = await analyzeRecord(record, {
    channel: opts.channel,
    fromS: opts.from,
    toS: opts.to,
    sampleRateHz: opts.rate,
    cleaning: cleaningFrom(config),
    thresholds: thresholdsFrom(config),
    frameSamples: config.dsp.frameSamples,
    maxDecisionDelayS: config.dsp.maxDecisionDelayS,
  });
  const s = summarize(analysis);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const lines = [
    `record      ${s.record} (channel "${s.channel}", ${s.sampleRateHz} Hz)`,
    `duration    ${fmt(s.durationS)} s (${fmt(s.durationS / 60, 2)} min)`,
    `beats       ${s.beats}`,
    s.heartRateBpm
      ? `heart rate  mean ${fmt(s.heartRateBpm.mean)} bpm, usable windows ${fmt(s.heartRateBpm.min)}-${fmt(s.heartRateBpm.max)} bpm`
      : 'heart rate  - (no usable window)',
    `windows     ${s.windows.total}: good ${pct(s.windowShare.good)}, acceptable ${pct(s.windowShare.acceptable)}, unusable ${pct(s.windowShare.unusable)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function peaksCommand(
  records: string[],
  opts: RecordOpts & { reference: string; toleranceMs: number; keepVf?: boolean },
): Promise<void> {
  const config = await configFor(opts);
  const paths = await expandRecords(records, opts.reference);
  const result = await scoreRecords(paths, {
    reference: opts.reference,
    toleranceS: opts.toleranceMs / 1000,
    fromS: opts.from,
    toS: opts.to,
    keepVf: opts.keepVf,
    analysis: {
      channel: opts.channel,
      cleaning: cleaningFrom(config),
      thresholds: thresholdsFrom(config),
      frameSamples: config.dsp.frameSamples,
      maxDecisionDelayS: config.dsp.maxDecisionDelayS,
    },
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    `${formatEc57Table(result)}\n\ntolerance ${opts.toleranceMs} ms, scored from ${opts.from ?? 0} s` +
      `${opts.keepVf ? ', VF/flutter kept' : ', VF/flutter left out'}, longest decision delay ` +
      `${fmt(result.maxDecisionDelayS * 1000, 0)} ms\n`,
  );
}
