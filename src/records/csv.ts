import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { RecordError } from './errors.js';
import type { ChannelReader, Chunk, ReadRange } from './types.js';

export interface CsvOptions {
  /** Sampling rate: text files do not carry one. */
  sampleRateHz: number;
  /** Column by index or header name; default: the first numeric column. */
  channel?: number | string;
  /** Unit of the values (default mV). */
  unit?: string;
}

/**
 * CSV (with or without a header row) or one value per line. Values are in the given unit.
 * Streamed line by line: the file is never held in memory.
 */
export async function openCsv(path: string, options: CsvOptions): Promise<ChannelReader> {
  if (!(options.sampleRateHz > 0))
    throw new RecordError(path, 'a text record needs a sample rate (--rate HZ)');
  try {
    await access(path);
  } catch (err) {
    throw new RecordError(
      path,
      `cannot open text record (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  const first = await firstLine(path);
  const delimiter = first.includes(',')
    ? ','
    : first.includes(';')
      ? ';'
      : first.includes('\t')
        ? '\t'
        : null;
  const cells = delimiter ? first.split(delimiter).map((c) => c.trim()) : [first.trim()];
  const hasHeader = cells.some((c) => c !== '' && !Number.isFinite(Number(c)));
  let column = 0;
  if (options.channel !== undefined) {
    if (typeof options.channel === 'number' || /^\d+$/.test(options.channel))
      column = Number(options.channel);
    else {
      column = hasHeader ? cells.indexOf(options.channel) : -1;
      if (column < 0)
        throw new RecordError(path, `no column named "${options.channel}" (columns: ${cells.join(', ')})`);
    }
    if (column >= cells.length)
      throw new RecordError(path, `column ${column} does not exist (${cells.length} columns)`);
  }
  const label = hasHeader ? cells[column] : `column ${column}`;
  const rate = options.sampleRateHz;
  return {
    info: {
      record: path,
      label,
      index: column,
      sampleRateHz: rate,
      sampleCount: undefined,
      unit: options.unit ?? 'mV',
      gain: null,
      baseline: null,
      digitalMin: null,
      digitalMax: null,
    },
    async *chunks(range: ReadRange = {}): AsyncIterable<Chunk> {
      const from = Math.max(0, Math.floor(range.fromSample ?? 0));
      const to = Math.floor(range.toSample ?? Number.POSITIVE_INFINITY);
      const size = range.chunkSamples ?? 65536;
      let buf = new Float64Array(size);
      let n = 0;
      let index = 0;
      let start = from;
      let lineNo = 0;
      let byteOffset = 0;
      const lines = createInterface({
        input: createReadStream(path, { encoding: 'latin1' }),
        crlfDelay: Number.POSITIVE_INFINITY,
      });
      for await (const line of lines) {
        lineNo++;
        const lineStart = byteOffset;
        byteOffset += line.length + 1;
        if (lineNo === 1 && hasHeader) continue;
        if (line.trim() === '') continue;
        if (index >= to) break;
        if (index < from) {
          index++;
          continue;
        }
        const text = delimiter ? line.split(delimiter)[column] : line;
        const v = text === undefined ? Number.NaN : Number(text.trim());
        if (text === undefined || text.trim() === '' || !Number.isFinite(v)) {
          throw new RecordError(
            path,
            `line ${lineNo}: not a number in column ${column}: "${line.slice(0, 40)}"`,
            lineStart,
          );
        }
        buf[n++] = v;
        index++;
        if (n === size) {
          yield { startSample: start, physical: buf, digital: null };
          start += n;
          buf = new Float64Array(size);
          n = 0;
        }
      }
      if (n > 0) yield { startSample: start, physical: buf.slice(0, n), digital: null };
    },
  };
}

async function firstLine(path: string): Promise<string> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'latin1', end: 4095 }) });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  throw new RecordError(path, 'text record is empty', 0);
}
