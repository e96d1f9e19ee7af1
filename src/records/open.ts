import { existsSync } from 'node:fs';
import { openCsv } from './csv.js';
import { openEdf } from './edf.js';
import { RecordError } from './errors.js';
import type { ChannelReader } from './types.js';
import { openWfdb } from './wfdb.js';

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

/** Opens one channel of any supported record. */
export async function openChannel(path: string, options: OpenOptions = {}): Promise<ChannelReader> {
  const kind = recordKind(path);
  if (kind === 'edf') return (await openEdf(path)).channel(options.channel ?? 0);
  if (kind === 'csv')
    return openCsv(path, { sampleRateHz: options.sampleRateHz ?? 0, channel: options.channel });
  const base = path.replace(/\.(hea|dat)$/, '');
  if (!existsSync(`${base}.hea`)) {
    throw new RecordError(
      path,
      'no such record (WFDB records are named without extension, e.g. mitdb/100; EDF and CSV by file)',
    );
  }
  return (await openWfdb(base)).channel(options.channel ?? 0);
}
