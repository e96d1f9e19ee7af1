import { readFile } from 'node:fs/promises';
import { RecordError } from './errors.js';
import { wfdbBase } from './wfdb.js';

/** One annotation of a WFDB annotation file (MIT format, e.g. `.atr`, `.qrs`). */
export interface Annotation {
  /** Time in ticks of the record's frame rate (sample number for single-rate records). */
  sample: number;
  code: number;
  symbol: string;
  subtype: number;
  channel: number;
  num: number;
  aux: string | null;
}

// Pseudo-annotation codes of the MIT format: they modify the annotation stream, they are not events.
const SKIP = 59;
const NUM = 60;
const SUB = 61;
const CHN = 62;
const AUX = 63;

/** Mnemonics of the standard annotation codes (WFDB ecgcodes.h). */
const SYMBOLS: Record<number, string> = {
  0: ' ',
  1: 'N',
  2: 'L',
  3: 'R',
  4: 'a',
  5: 'V',
  6: 'F',
  7: 'J',
  8: 'A',
  9: 'S',
  10: 'E',
  11: 'j',
  12: '/',
  13: 'Q',
  14: '~',
  16: '|',
  18: 's',
  19: 'T',
  20: '*',
  21: 'D',
  22: '"',
  23: '=',
  24: 'p',
  25: 'B',
  26: '^',
  27: 't',
  28: '+',
  29: 'u',
  30: '?',
  31: '!',
  32: '[',
  33: ']',
  34: 'e',
  35: 'n',
  36: '@',
  37: 'x',
  38: 'f',
  39: '(',
  40: ')',
  41: 'r',
};

/** Codes that mark a QRS complex (WFDB's isqrs): the beats a detector is scored against. */
const BEAT_CODES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 34, 35, 38, 41]);

export function isBeat(code: number): boolean {
  return BEAT_CODES.has(code);
}

/** Parses an MIT-format annotation buffer. `file` names it in errors. */
export function parseAnnotations(buf: Buffer, file: string): Annotation[] {
  const out: Annotation[] = [];
  let time = 0;
  let chan = 0;
  let num = 0;
  let pos = 0;
  let current: Annotation | null = null;
  while (pos + 2 <= buf.length) {
    const word = buf.readUInt16LE(pos);
    const code = word >> 10;
    const interval = word & 0x3ff;
    pos += 2;
    if (code === 0 && interval === 0) return out; // end of file marker
    switch (code) {
      case SKIP: {
        if (pos + 4 > buf.length) throw new RecordError(file, 'truncated SKIP annotation', pos);
        // 32-bit interval stored as two little-endian 16-bit words, high word first (PDP-11 order).
        const hi = buf.readInt16LE(pos);
        const lo = buf.readUInt16LE(pos + 2);
        time += hi * 65536 + lo;
        pos += 4;
        break;
      }
      case NUM:
        num = interval > 511 ? interval - 1024 : interval;
        if (current) current.num = num;
        break;
      case SUB:
        if (current) current.subtype = interval > 511 ? interval - 1024 : interval;
        break;
      case CHN:
        chan = interval;
        if (current) current.channel = chan;
        break;
      case AUX: {
        const len = interval;
        if (pos + len > buf.length) throw new RecordError(file, `truncated AUX string of ${len} bytes`, pos);
        const text = buf
          .subarray(pos, pos + len)
          .toString('latin1')
          .replace(/\0+$/, '');
        if (current) current.aux = text;
        pos += len + (len & 1);
        break;
      }
      default: {
        if (code > 49) throw new RecordError(file, `unknown annotation code ${code}`, pos - 2);
        time += interval;
        current = {
          sample: time,
          code,
          symbol: SYMBOLS[code] ?? '?',
          subtype: 0,
          channel: chan,
          num,
          aux: null,
        };
        out.push(current);
      }
    }
  }
  if (pos < buf.length) throw new RecordError(file, 'odd trailing byte in annotation file', pos);
  // A file without the end marker is accepted: some writers omit it.
  return out;
}

/** Reads `<record>.<annotator>`, e.g. readAnnotations('mitdb/100', 'atr'). */
export async function readAnnotations(recordPath: string, annotator: string): Promise<Annotation[]> {
  const file = `${wfdbBase(recordPath)}.${annotator}`;
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new RecordError(
      file,
      `cannot read annotations (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  return parseAnnotations(buf, file);
}
