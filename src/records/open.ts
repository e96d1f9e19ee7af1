import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { DATA_FETCH_HINT, ecgDataDir } from '../paths.js';
import { openCsv } from './csv.js';
import { openEdf } from './edf.js';
import { RecordError } from './errors.js';
import { resolveRecord } from './resolve.js';
import type { ChannelReader } from './types.js';
import { openWfdb, wfdbBase } from './wfdb.js';

export interface OpenOptions {
  channel?: number | string;
  /** Sample rate for text records. */
  sampleRateHz?: number;
}

export type RecordKind = 'wfdb' | 'edf' | 'csv';

/** WFDB records are named by their path without extension; `.edf` and `.csv`/`.txt` by file. */
export function recordKind(path: string): RecordKind {
  if (/\.(edf|bdf)$/i.test(path)) return 'edf';
  if (/\.(csv|txt|tsv)$/i.test(path)) return 'csv';
  return 'wfdb';
}

/** A record's name as a training list names it: `drive06` for `…/drivedb/drive06`, `x` for `…/x.edf`. */
export const recordName = (path: string): string =>
  basename(path).replace(/\.(hea|dat|edf|bdf|csv|txt|tsv)$/i, '');

/** Sample rates a record may have to be read as ECG (the resampler takes any ratio in between). */
export const RECORD_RATE_HZ = { min: 1, max: 100_000 } as const;

/** Opens one channel of any supported record; a rate outside RECORD_RATE_HZ is refused here. */
export async function openChannel(path: string, options: OpenOptions = {}): Promise<ChannelReader> {
  const reader = await openAnyChannel(resolveRecord(path), options);
  const rate = reader.info.sampleRateHz;
  if (!(rate >= RECORD_RATE_HZ.min && rate <= RECORD_RATE_HZ.max)) {
    throw new RecordError(
      path,
      `sample rate ${rate} Hz is outside ${RECORD_RATE_HZ.min}-${RECORD_RATE_HZ.max} Hz`,
    );
  }
  return reader;
}

async function openAnyChannel(path: string, options: OpenOptions): Promise<ChannelReader> {
  const kind = recordKind(path);
  if (kind === 'edf') return (await openEdf(path)).channel(options.channel ?? 0);
  if (kind === 'csv')
    return openCsv(path, { sampleRateHz: options.sampleRateHz ?? 0, channel: options.channel });
  const base = wfdbBase(path);
  if (!existsSync(`${base}.hea`)) {
    throw new RecordError(
      path,
      `no such record, here or in the data folder ${ecgDataDir()} (WFDB records are named without extension, e.g. mitdb/100; EDF and CSV by file; ${DATA_FETCH_HINT})`,
    );
  }
  return (await openWfdb(base)).channel(options.channel ?? 0);
}
