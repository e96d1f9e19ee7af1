import { existsSync } from 'node:fs';
import { resolveRecord } from './resolve.js';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { RecordError } from './errors.js';

/** A labelled stretch of a recording, e.g. one driving segment (Rest, City, Highway). */
export interface Segment {
  record: string;
  name: string;
  label: string;
  startS: number;
  endS: number;
}

/** The labels file beside a record: `<record>_segments.csv` (as the shared drivedb folder has). */
export function segmentsFileOf(record: string): string | undefined {
  const f = `${resolveRecord(record)}_segments.csv`;
  return existsSync(f) ? f : undefined;
}

/**
 * Reads a segments CSV with a header: `segment`, `start_s`, `end_s` and the label column
 * (`stress` in drivedb's files).
 */
export async function readSegments(record: string, file: string, labelColumn: string): Promise<Segment[]> {
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0]?.split(',').map((h) => h.trim()) ?? [];
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new RecordError(file, `no column "${name}" in the header (${header.join(', ')})`);
    return i;
  };
  const [iName, iLabel, iStart, iEnd] = [col('segment'), col(labelColumn), col('start_s'), col('end_s')];
  return lines.slice(1).map((line, n) => {
    const f = line.split(',');
    const startS = Number(f[iStart]);
    const endS = Number(f[iEnd]);
    if (!(Number.isFinite(startS) && Number.isFinite(endS) && endS > startS) || !f[iLabel]) {
      throw new RecordError(file, `line ${n + 2}: bad segment "${line}"`);
    }
    return { record: basename(record), name: f[iName], label: f[iLabel].trim(), startS, endS };
  });
}
