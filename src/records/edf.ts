import { open } from 'node:fs/promises';
import { selectChannel } from './channel-select.js';
import { RecordError } from './errors.js';
import type { ChannelInfo, ChannelReader, Chunk, ReadRange } from './types.js';
import { toMillivolts } from './types.js';

export interface EdfSignal {
  label: string;
  transducer: string;
  physicalDimension: string;
  physicalMin: number;
  physicalMax: number;
  digitalMin: number;
  digitalMax: number;
  prefiltering: string;
  samplesPerRecord: number;
}

export interface EdfHeader {
  version: string;
  patient: string;
  recording: string;
  startDate: string;
  startTime: string;
  headerBytes: number;
  /** "EDF+C" (continuous), "EDF+D" (discontinuous) or "" for plain EDF. */
  reserved: string;
  dataRecords: number;
  recordDurationS: number;
  signals: EdfSignal[];
}

export interface EdfFile {
  path: string;
  header: EdfHeader;
  /** Byte size of one data record (all signals). */
  recordBytes: number;
  channel(selector: number | string): ChannelReader;
}

const ANNOTATION_LABEL = 'EDF Annotations';

function field(buf: Buffer, start: number, len: number): string {
  return buf
    .subarray(start, start + len)
    .toString('latin1')
    .trim();
}

function numField(path: string, buf: Buffer, start: number, len: number, what: string): number {
  const text = field(buf, start, len);
  const v = Number(text);
  if (text === '' || !Number.isFinite(v))
    throw new RecordError(path, `EDF header field ${what} is not a number: "${text}"`, start);
  return v;
}

/** Parses the fixed and per-signal parts of an EDF/EDF+ header. */
export function parseEdfHeader(buf: Buffer, path: string, fileSize: number): EdfHeader {
  if (buf.length < 256) throw new RecordError(path, 'EDF header shorter than 256 bytes', buf.length);
  const version = field(buf, 0, 8);
  if (version !== '0') throw new RecordError(path, `not an EDF file (version field "${version}")`, 0);
  const headerBytes = numField(path, buf, 184, 8, 'header bytes');
  const ns = numField(path, buf, 252, 4, 'number of signals');
  if (ns < 1 || headerBytes !== 256 + ns * 256) {
    throw new RecordError(path, `EDF header size ${headerBytes} does not match ${ns} signals`, 184);
  }
  if (buf.length < headerBytes) throw new RecordError(path, 'EDF header truncated', buf.length);
  const signals: EdfSignal[] = [];
  const col = (offset: number, width: number, i: number) => 256 + offset * ns + width * i;
  // Per-signal fields are stored column-wise: all labels, then all transducers, ...
  const widths = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32];
  const offsets: number[] = [];
  widths.reduce((acc, w) => {
    offsets.push(acc);
    return acc + w;
  }, 0);
  for (let i = 0; i < ns; i++) {
    const at = (k: number) => col(offsets[k], widths[k], i);
    const sig: EdfSignal = {
      label: field(buf, at(0), 16),
      transducer: field(buf, at(1), 80),
      physicalDimension: field(buf, at(2), 8),
      physicalMin: numField(path, buf, at(3), 8, `physical minimum of signal ${i}`),
      physicalMax: numField(path, buf, at(4), 8, `physical maximum of signal ${i}`),
      digitalMin: numField(path, buf, at(5), 8, `digital minimum of signal ${i}`),
      digitalMax: numField(path, buf, at(6), 8, `digital maximum of signal ${i}`),
      prefiltering: field(buf, at(7), 80),
      samplesPerRecord: numField(path, buf, at(8), 8, `samples per record of signal ${i}`),
    };
    if (sig.digitalMax <= sig.digitalMin) {
      throw new RecordError(path, `signal ${i} ("${sig.label}") has digital max <= digital min`, at(6));
    }
    if (!Number.isInteger(sig.samplesPerRecord) || sig.samplesPerRecord < 1 || sig.samplesPerRecord > 1e7) {
      throw new RecordError(
        path,
        `signal ${i} ("${sig.label}"): samples per data record ${sig.samplesPerRecord} is not a whole number from 1 to 10^7`,
        at(8),
      );
    }
    signals.push(sig);
  }
  const recordBytes = signals.reduce((a, s) => a + 2 * s.samplesPerRecord, 0);
  const recordDurationS = numField(path, buf, 244, 8, 'data record duration');
  // EDF allows 0 only for records that are not a time series (annotations alone): no ECG there.
  if (!(recordDurationS > 0 && recordDurationS <= 86400)) {
    throw new RecordError(
      path,
      `data record duration ${recordDurationS} s is not from above 0 to 86400`,
      244,
    );
  }
  let dataRecords = numField(path, buf, 236, 8, 'number of data records');
  if (dataRecords === 0) throw new RecordError(path, 'holds no data records', 236);
  if (!(Number.isInteger(dataRecords) && dataRecords >= -1)) {
    throw new RecordError(path, `number of data records ${dataRecords} is not a whole number`, 236);
  }
  const available = Math.floor((fileSize - headerBytes) / recordBytes);
  if (dataRecords === -1) dataRecords = available;
  else if (available < dataRecords) {
    throw new RecordError(
      path,
      `truncated: header declares ${dataRecords} data records of ${recordBytes} bytes, file holds ${available}`,
      headerBytes + available * recordBytes,
    );
  }
  return {
    version,
    patient: field(buf, 8, 80),
    recording: field(buf, 88, 80),
    startDate: field(buf, 168, 8),
    startTime: field(buf, 176, 8),
    headerBytes,
    reserved: field(buf, 192, 44),
    dataRecords,
    recordDurationS,
    signals,
  };
}

export async function openEdf(path: string): Promise<EdfFile> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new RecordError(
      path,
      `cannot open EDF file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  let header: EdfHeader;
  try {
    const size = (await fh.stat()).size;
    const fixed = Buffer.alloc(256);
    await fh.read(fixed, 0, 256, 0);
    const ns = Number(field(fixed, 252, 4));
    const full = Buffer.alloc(Number.isFinite(ns) && ns > 0 && ns < 4096 ? 256 + 256 * ns : 256);
    const { bytesRead } = await fh.read(full, 0, full.length, 0);
    header = parseEdfHeader(full.subarray(0, bytesRead), path, size);
  } finally {
    await fh.close();
  }
  const recordBytes = header.signals.reduce((a, s) => a + 2 * s.samplesPerRecord, 0);
  const labels = header.signals.map((s) => s.label);

  return {
    path,
    header,
    recordBytes,
    channel: (selector) => {
      const index = selectChannel(labels, path, selector);
      if (header.signals[index].label === ANNOTATION_LABEL) {
        throw new RecordError(path, `channel ${index} is the EDF+ annotation channel, not a signal`);
      }
      return edfChannelReader(path, header, recordBytes, index);
    },
  };
}

function edfChannelReader(
  path: string,
  header: EdfHeader,
  recordBytes: number,
  index: number,
): ChannelReader {
  const sig = header.signals[index];
  const spr = sig.samplesPerRecord;
  const mv = toMillivolts(sig.physicalDimension);
  const unitScale = mv ?? 1;
  const slope = ((sig.physicalMax - sig.physicalMin) / (sig.digitalMax - sig.digitalMin)) * unitScale;
  const offsetInRecord = offsetInRecordOf(header, index);
  const onsetOf = discontinuousOnsets(path, header, recordBytes);
  const total = header.dataRecords * spr;
  const info: ChannelInfo = {
    record: path,
    label: sig.label,
    index,
    sampleRateHz: spr / header.recordDurationS,
    sampleCount: total,
    unit: mv === null ? sig.physicalDimension : 'mV',
    gain: 1 / slope,
    // physical = (d - digitalMin) * slope + physicalMin  =>  baseline = digitalMin - physicalMin / slope
    baseline: sig.digitalMin - (sig.physicalMin * unitScale) / slope,
    digitalMin: sig.digitalMin,
    digitalMax: sig.digitalMax,
  };
  return {
    info,
    async *chunks(range: ReadRange = {}): AsyncIterable<Chunk> {
      const from = Math.max(0, Math.min(total, Math.floor(range.fromSample ?? 0)));
      const to = Math.max(from, Math.min(total, Math.floor(range.toSample ?? total)));
      const recordsPerChunk = Math.max(1, Math.round((range.chunkSamples ?? 65536) / spr));
      const fh = await open(path, 'r');
      try {
        let rec = Math.floor(from / spr);
        const endRec = Math.ceil(to / spr);
        let expectedOnset = Number.NaN;
        while (rec < endRec) {
          let n = Math.min(recordsPerChunk, endRec - rec);
          let buf = Buffer.allocUnsafe(n * recordBytes);
          const pos = header.headerBytes + rec * recordBytes;
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead < buf.length) throw new RecordError(path, 'truncated data record', pos + bytesRead);
          // EDF+D: a chunk ends before a data record that does not follow on in time.
          let gapBeforeS: number | undefined;
          if (onsetOf) {
            for (let r = 0; r < n; r++) {
              const onset = onsetOf(buf, r, pos + r * recordBytes);
              const missing = onset - expectedOnset;
              const gap = missing > 0.5 / (spr / header.recordDurationS);
              if (gap && r > 0) {
                // Stop before it: the next chunk starts at this record and finds the gap again.
                n = r;
                buf = buf.subarray(0, r * recordBytes);
                break;
              }
              if (gap) gapBeforeS = missing;
              expectedOnset = onset + header.recordDurationS;
            }
          }
          const first = rec * spr;
          const lo = Math.max(from, first);
          const hi = Math.min(to, first + n * spr);
          const digital = new Int32Array(hi - lo);
          const physical = new Float64Array(hi - lo);
          for (let s = lo; s < hi; s++) {
            const rel = s - first;
            const r = Math.floor(rel / spr);
            const d = buf.readInt16LE(r * recordBytes + offsetInRecord + 2 * (rel - r * spr));
            digital[s - lo] = d;
            physical[s - lo] = (d - sig.digitalMin) * slope + sig.physicalMin * unitScale;
          }
          yield gapBeforeS
            ? { startSample: lo, digital, physical, gapBeforeS }
            : { startSample: lo, digital, physical };
          rec += n;
        }
      } finally {
        await fh.close();
      }
    },
  };
}

/** Byte offset of a signal's samples inside each data record. */
function offsetInRecordOf(header: EdfHeader, index: number): number {
  return header.signals.slice(0, index).reduce((a, s) => a + 2 * s.samplesPerRecord, 0);
}

/**
 * For an EDF+D file, reads the onset (seconds from the file's start) of a data record from the
 * time-keeping TAL that opens its first annotation signal; null for a continuous file.
 */
function discontinuousOnsets(
  path: string,
  header: EdfHeader,
  recordBytes: number,
): ((buf: Buffer, record: number, pos: number) => number) | null {
  const ann = header.signals.findIndex((s) => s.label === ANNOTATION_LABEL);
  if (!header.reserved.startsWith('EDF+D') || ann < 0) return null;
  const offset = offsetInRecordOf(header, ann);
  const length = 2 * header.signals[ann].samplesPerRecord;
  return (buf, record, pos) => {
    const at = record * recordBytes + offset;
    const tal = buf.subarray(at, at + length);
    const end = tal.indexOf(0x14);
    const onset = end > 0 ? Number(tal.toString('latin1', 0, end)) : Number.NaN;
    if (!Number.isFinite(onset))
      throw new RecordError(path, 'EDF+D data record without a time-keeping annotation', pos + offset);
    return onset;
  };
}
