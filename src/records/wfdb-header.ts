import { RecordError } from './errors.js';

/** One signal line of a WFDB header (.hea), with WFDB's defaults applied. */
export interface WfdbSignal {
  fileName: string;
  format: number;
  /** Samples per frame (the `x32` of `16x32`). */
  samplesPerFrame: number;
  skew: number;
  byteOffset: number;
  /** ADC units per physical unit (WFDB default 200 when the header says 0 or nothing). */
  gain: number;
  baseline: number;
  units: string;
  adcResolutionBits: number;
  adcZero: number;
  initialValue: number | null;
  checksum: number | null;
  blockSize: number;
  description: string;
}

export interface WfdbHeader {
  recordName: string;
  /** Directory holding the header; signal and annotation files are relative to it. */
  directory: string;
  /** Frame rate in Hz (equals the sample rate when every signal has one sample per frame). */
  frameRateHz: number;
  /** Number of frames, when the header says. */
  frameCount: number | null;
  signals: WfdbSignal[];
  comments: string[];
}

const DEFAULT_GAIN = 200;
const DEFAULT_FREQ = 250;
const SUPPORTED_FORMATS = new Set([16, 24, 32, 61, 80, 212]);
const DEFAULT_ADC_BITS: Record<number, number> = { 16: 16, 24: 24, 32: 32, 61: 16, 80: 8, 212: 12 };

const FORMAT_RE = /^(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$/;
const GAIN_RE = /^([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)(?:\((-?\d+)\))?(?:\/(\S+))?$/;

function num(file: string, text: string, what: string): number {
  const v = Number(text);
  if (!Number.isFinite(v)) throw new RecordError(file, `${what} is not a number: "${text}"`);
  return v;
}

/** Parses the text of a WFDB header. `file` names it in errors. */
export function parseWfdbHeader(text: string, file: string, directory: string): WfdbHeader {
  const lines = text.split(/\r?\n/);
  const comments: string[] = [];
  const content: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith('#')) comments.push(line.slice(1).trim());
    else if (line.length > 0) content.push(line);
  }
  if (content.length === 0) throw new RecordError(file, 'header has no record line');
  const rec = content[0].split(/\s+/);
  const [nameField, nsigField, freqField, nsampField] = rec;
  if (nameField.includes('/')) throw new RecordError(file, 'multi-segment records are not supported');
  if (nsigField === undefined) throw new RecordError(file, 'record line lacks the number of signals');
  const nsig = num(file, nsigField, 'number of signals');
  let frameRateHz = DEFAULT_FREQ;
  if (freqField !== undefined) {
    const f = freqField.split('/')[0].split('(')[0];
    frameRateHz = num(file, f, 'sampling frequency');
    if (frameRateHz <= 0) throw new RecordError(file, `sampling frequency must be > 0, got ${f}`);
  }
  const frameCount = nsampField === undefined ? null : num(file, nsampField, 'number of samples');
  if (content.length - 1 < nsig) {
    throw new RecordError(file, `header declares ${nsig} signals but has ${content.length - 1} signal lines`);
  }
  const signals: WfdbSignal[] = [];
  for (let i = 0; i < nsig; i++) {
    signals.push(parseSignalLine(content[i + 1], file, i));
  }
  return { recordName: nameField, directory, frameRateHz, frameCount, signals, comments };
}

function parseSignalLine(line: string, file: string, index: number): WfdbSignal {
  const f = line.split(/\s+/);
  const where = `signal ${index}`;
  const fm = FORMAT_RE.exec(f[1] ?? '');
  if (!fm) throw new RecordError(file, `${where}: bad format field "${f[1] ?? ''}"`);
  const format = Number(fm[1]);
  if (!SUPPORTED_FORMATS.has(format))
    throw new RecordError(file, `${where}: unsupported WFDB format ${format}`);
  let gain = DEFAULT_GAIN;
  let baseline: number | null = null;
  let units = 'mV';
  if (f[2] !== undefined) {
    const gm = GAIN_RE.exec(f[2]);
    if (!gm) throw new RecordError(file, `${where}: bad gain field "${f[2]}"`);
    gain = Number(gm[1]);
    if (gain === 0) gain = DEFAULT_GAIN;
    if (gm[2] !== undefined) baseline = Number(gm[2]);
    if (gm[3] !== undefined) units = gm[3];
  }
  const adcBitsField = f[3] === undefined ? 0 : num(file, f[3], `${where} ADC resolution`);
  const adcResolutionBits = adcBitsField > 0 ? adcBitsField : DEFAULT_ADC_BITS[format];
  const adcZero = f[4] === undefined ? 0 : num(file, f[4], `${where} ADC zero`);
  return {
    fileName: f[0],
    format,
    samplesPerFrame: fm[2] === undefined ? 1 : Math.max(1, Number(fm[2])),
    skew: fm[3] === undefined ? 0 : Number(fm[3]),
    byteOffset: fm[4] === undefined ? 0 : Number(fm[4]),
    gain,
    baseline: baseline ?? adcZero,
    units,
    adcResolutionBits,
    adcZero,
    initialValue: f[5] === undefined ? null : num(file, f[5], `${where} initial value`),
    checksum: f[6] === undefined ? null : num(file, f[6], `${where} checksum`),
    blockSize: f[7] === undefined ? 0 : num(file, f[7], `${where} block size`),
    description: f.slice(8).join(' '),
  };
}
