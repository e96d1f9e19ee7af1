import { open, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { selectChannel } from './channel-select.js';
import { RecordError } from './errors.js';
import type { ChannelInfo, ChannelReader, Chunk, ReadRange } from './types.js';
import { toMillivolts } from './types.js';
import { parseWfdbHeader, type WfdbHeader, type WfdbSignal } from './wfdb-header.js';

/** Bytes per sample of each WFDB storage format (212 packs two 12-bit samples in 3 bytes). */
const BYTES_PER_SAMPLE: Record<number, number> = { 16: 2, 24: 3, 32: 4, 61: 2, 80: 1, 212: 1.5 };

/** The signals that share one data file, and how a frame of that file is laid out. */
interface FileLayout {
  path: string;
  format: number;
  byteOffset: number;
  /** Samples of all signals in one frame of this file. */
  frameSamples: number;
  /** Index of each signal's first sample within a frame, by header signal index. */
  offsetInFrame: Map<number, number>;
}

export interface WfdbRecord {
  header: WfdbHeader;
  /** Record path as given (without extension). */
  path: string;
  /** Number of frames actually present in the data (from the header, checked against file sizes). */
  frameCount: number;
  channel(selector: number | string): ChannelReader;
}

/** A WFDB record's name: its path without extension, also when given with `.hea` or `.dat`. */
export const wfdbBase = (path: string): string => path.replace(/\.(hea|dat)$/, '');

/** Opens a WFDB record named by its path without extension (as PhysioNet tools do). */
export async function openWfdb(recordPath: string): Promise<WfdbRecord> {
  const path = wfdbBase(recordPath);
  const headerFile = `${path}.hea`;
  let text: string;
  try {
    text = await readFile(headerFile, 'latin1');
  } catch (err) {
    throw new RecordError(
      headerFile,
      `cannot read header (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  const header = parseWfdbHeader(text, headerFile, dirname(path));
  const layouts = layoutFiles(header);
  let frameCount = header.frameCount ?? Number.POSITIVE_INFINITY;
  for (const layout of layouts.values()) {
    const size = await fileSize(layout.path);
    const bps = BYTES_PER_SAMPLE[layout.format];
    const framesInFile = Math.floor(((size - layout.byteOffset) / bps + 1e-9) / layout.frameSamples);
    if (header.frameCount !== null) {
      const needed = layout.byteOffset + Math.ceil(header.frameCount * layout.frameSamples * bps);
      if (size < needed) {
        throw new RecordError(
          layout.path,
          `truncated: header declares ${header.frameCount} frames (${needed} bytes) but the data ends`,
          size,
        );
      }
    }
    frameCount = Math.min(frameCount, framesInFile);
  }
  if (!Number.isFinite(frameCount)) frameCount = 0;
  const labels = header.signals.map((s) => s.description);
  const record: WfdbRecord = {
    header,
    path,
    frameCount,
    channel: (selector) => {
      const index = selectChannel(labels, headerFile, selector);
      const layout = layouts.get(header.signals[index].fileName);
      if (!layout) throw new RecordError(headerFile, `signal ${index} has no data file`);
      return makeChannelReader(path, header, layout, index, frameCount);
    },
  };
  return record;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw new RecordError(
      path,
      `cannot open signal file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}

function layoutFiles(header: WfdbHeader): Map<string, FileLayout> {
  const layouts = new Map<string, FileLayout>();
  header.signals.forEach((s, i) => {
    if (s.skew !== 0)
      throw new RecordError(join(header.directory, s.fileName), `signal ${i}: skew is not supported`);
    let layout = layouts.get(s.fileName);
    // A header names its data file by a bare name beside it (WFDB's own rule): a path that
    // leaves the record's folder is refused, not opened.
    if (s.fileName !== basename(s.fileName) || s.fileName === '..' || s.fileName === '.') {
      throw new RecordError(
        join(header.directory, `${header.recordName}.hea`),
        `signal ${i}: data file "${s.fileName}" is not a file name in the record's folder`,
      );
    }
    if (!layout) {
      layout = {
        path: join(header.directory, s.fileName),
        format: s.format,
        byteOffset: s.byteOffset,
        frameSamples: 0,
        offsetInFrame: new Map(),
      };
      layouts.set(s.fileName, layout);
    } else if (layout.format !== s.format) {
      throw new RecordError(
        layout.path,
        `signals in one file use different formats (${layout.format}, ${s.format})`,
      );
    }
    layout.offsetInFrame.set(i, layout.frameSamples);
    layout.frameSamples += s.samplesPerFrame;
  });
  return layouts;
}

/** Digital range of a signal: what its ADC (and storage format) can represent. */
function adcRange(s: WfdbSignal): [number, number] {
  const half = 2 ** (s.adcResolutionBits - 1);
  let lo = s.adcZero - half;
  let hi = s.adcZero + half - 1;
  if (s.format === 212) {
    lo = Math.max(lo, -2048);
    hi = Math.min(hi, 2047);
  }
  return [lo, hi];
}

/** `# excerpt of drivedb/drive06 from 840 s`: the cut's source recording, by its record name. */
function excerptOrigin(comments: string[]): { origin?: string } {
  for (const c of comments) {
    const m = /^excerpt of (\S+)/.exec(c);
    if (m) return { origin: basename(m[1]) };
  }
  return {};
}

function makeChannelReader(
  recordPath: string,
  header: WfdbHeader,
  layout: FileLayout,
  index: number,
  frameCount: number,
): ChannelReader {
  const sig = header.signals[index];
  const spf = sig.samplesPerFrame;
  const mvScale = toMillivolts(sig.units);
  const [digitalMin, digitalMax] = adcRange(sig);
  const info: ChannelInfo = {
    record: recordPath,
    label: sig.description || `signal ${index}`,
    index,
    sampleRateHz: header.frameRateHz * spf,
    sampleCount: frameCount * spf,
    unit: mvScale === null ? sig.units : 'mV',
    gain: sig.gain / (mvScale ?? 1),
    baseline: sig.baseline,
    digitalMin,
    digitalMax,
    ...excerptOrigin(header.comments),
  };
  const scale = (mvScale ?? 1) / sig.gain;
  return {
    info,
    async *chunks(range: ReadRange = {}): AsyncIterable<Chunk> {
      const total = frameCount * spf;
      const from = Math.max(0, Math.min(total, Math.floor(range.fromSample ?? 0)));
      const to = Math.max(from, Math.min(total, Math.floor(range.toSample ?? total)));
      const wanted = range.chunkSamples ?? 65536;
      for await (const { frameStart, samples } of readFrames(
        layout,
        frameCount,
        Math.floor(from / spf),
        Math.ceil(to / spf),
        Math.max(2, Math.ceil(wanted / spf)),
      )) {
        const nFrames = samples.length / layout.frameSamples;
        const first = frameStart * spf;
        const lo = Math.max(from, first);
        const hi = Math.min(to, first + nFrames * spf);
        if (hi <= lo) continue;
        const digital = new Int32Array(hi - lo);
        const physical = new Float64Array(hi - lo);
        const off = layout.offsetInFrame.get(index) ?? 0;
        for (let s = lo; s < hi; s++) {
          const rel = s - first;
          const frame = Math.floor(rel / spf);
          const v = samples[frame * layout.frameSamples + off + (rel - frame * spf)];
          digital[s - lo] = v;
          physical[s - lo] = (v - sig.baseline) * scale;
        }
        yield { startSample: lo, digital, physical };
      }
    },
  };
}

/**
 * Reads whole frames [fromFrame, toFrame) of one data file in chunks, decoded to integers in frame order.
 * Chunks hold an even number of frames so that format 212's 3-byte sample pairs never straddle two reads.
 */
async function* readFrames(
  layout: FileLayout,
  frameCount: number,
  fromFrame: number,
  toFrame: number,
  chunkFrames: number,
): AsyncGenerator<{ frameStart: number; samples: Int32Array }> {
  const bps = BYTES_PER_SAMPLE[layout.format];
  const fs = layout.frameSamples;
  let frame = layout.format === 212 ? fromFrame - ((fromFrame * fs) % 2 === 0 ? 0 : 1) : fromFrame;
  if (chunkFrames % 2 === 1) chunkFrames += 1;
  const end = Math.min(toFrame, frameCount);
  const fh = await open(layout.path, 'r');
  try {
    while (frame < end) {
      const n = Math.min(chunkFrames, end - frame);
      const sampleStart = frame * fs;
      const sampleCount = n * fs;
      const byteStart = layout.byteOffset + Math.floor(sampleStart * bps);
      const byteLen = Math.ceil(sampleCount * bps);
      const buf = Buffer.allocUnsafe(byteLen);
      const { bytesRead } = await fh.read(buf, 0, byteLen, byteStart);
      if (bytesRead < byteLen) {
        // Only a record whose last 212 pair is half-filled may end mid-pair.
        const fullOk =
          layout.format === 212 && sampleCount % 2 === 1 && bytesRead >= Math.floor(sampleCount * bps);
        if (!fullOk) {
          throw new RecordError(
            layout.path,
            `truncated: expected ${byteLen} bytes, file ends`,
            byteStart + bytesRead,
          );
        }
      }
      const samples = new Int32Array(sampleCount);
      decodeSamples(layout.format, buf, sampleCount, samples);
      yield { frameStart: frame, samples };
      frame += n;
    }
  } finally {
    await fh.close();
  }
}

/** Decodes `count` samples of a WFDB format from `buf` (which starts at an even sample for 212). */
export function decodeSamples(format: number, buf: Buffer, count: number, out: Int32Array): void {
  switch (format) {
    case 212:
      for (let i = 0, b = 0; i < count; i += 2, b += 3) {
        const b1 = buf[b + 1] ?? 0;
        const v0 = (buf[b] | ((b1 & 0x0f) << 8)) << 20;
        out[i] = v0 >> 20;
        if (i + 1 < count) {
          const v1 = ((buf[b + 2] ?? 0) | ((b1 & 0xf0) << 4)) << 20;
          out[i + 1] = v1 >> 20;
        }
      }
      return;
    case 16:
      for (let i = 0; i < count; i++) out[i] = buf.readInt16LE(2 * i);
      return;
    case 61:
      for (let i = 0; i < count; i++) out[i] = buf.readInt16BE(2 * i);
      return;
    case 24:
      for (let i = 0; i < count; i++) out[i] = buf.readIntLE(3 * i, 3);
      return;
    case 32:
      for (let i = 0; i < count; i++) out[i] = buf.readInt32LE(4 * i);
      return;
    case 80:
      for (let i = 0; i < count; i++) out[i] = buf[i] - 128;
      return;
    default:
      throw new Error(`unsupported WFDB format ${format}`);
  }
}

export interface ChecksumResult {
  signal: number;
  label: string;
  expected: number | null;
  actual: number;
  ok: boolean;
  initialValueOk: boolean;
}

/**
 * Reads each data file of the record once and compares every signal's 16-bit sample sum (and first
 * sample) with the header's checksum (and initial value).
 */
export async function verifyChecksums(record: WfdbRecord): Promise<ChecksumResult[]> {
  const signals = record.header.signals;
  const sums = new Array<number>(signals.length).fill(0);
  const firsts = new Array<number | null>(signals.length).fill(null);
  for (const layout of layoutFiles(record.header).values()) {
    const members = [...layout.offsetInFrame.entries()];
    for await (const { samples } of readFrames(layout, record.frameCount, 0, record.frameCount, 1 << 14)) {
      for (const [i, offset] of members) {
        const spf = signals[i].samplesPerFrame;
        if (firsts[i] === null && samples.length > 0) firsts[i] = samples[offset];
        let sum = sums[i];
        for (let f = 0; f < samples.length; f += layout.frameSamples) {
          for (let k = 0; k < spf; k++) sum = (sum + samples[f + offset + k]) & 0xffff;
        }
        sums[i] = sum;
      }
    }
  }
  return signals.map((sig, i) => ({
    signal: i,
    label: sig.description,
    expected: sig.checksum,
    actual: sums[i],
    ok: sig.checksum === null || (sig.checksum & 0xffff) === sums[i],
    initialValueOk: sig.initialValue === null || firsts[i] === null || sig.initialValue === firsts[i],
  }));
}
