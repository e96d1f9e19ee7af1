import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { readSegments, segmentsFileOf, type Segment } from '../records/segments.js';
import { readEventLog } from './event-log.js';
import { htmlReport } from './html-report.js';

export interface WriteReportOptions {
  out: string;
  /** A segments CSV; by default the one beside the replayed record, if the log names one. */
  labels?: string;
  labelColumn?: string;
  stripFromS?: number;
  stripSeconds?: number;
}

/** `ecg-emotiond report`: an event log in, one self-contained HTML file out. */
export async function writeReport(
  eventLog: string,
  o: WriteReportOptions,
): Promise<{ out: string; windows: number; labels: string | null }> {
  const log = await readEventLog(eventLog);
  const labels = o.labels ?? (log.start.record ? segmentsFileOf(log.start.record) : undefined);
  let segments: Segment[] | undefined;
  if (labels) segments = await readSegments(log.start.record ?? labels, labels, o.labelColumn ?? 'stress');
  const html = htmlReport(log, {
    segments,
    stripFromS: o.stripFromS,
    stripSeconds: o.stripSeconds,
    title: basename(eventLog),
  });
  await writeFile(o.out, html);
  return { out: o.out, windows: log.windows.length, labels: labels ?? null };
}
