import { crc4Bitalino } from './crc.js';
import { type DecoderStats, emptyStats, type SampleFrame, type StreamDecoder } from './types.js';

/**
 * BITalino (r)evolution over serial / Bluetooth SPP: one-byte commands, and per sample a frame of
 * the enabled analog channels (A1-A4 10-bit, A5-A6 6-bit, packed from the end of the frame), the
 * four digital lines, a 4-bit sequence number and a CRC-4.
 */
export const BITALINO_RATES = [1, 10, 100, 1000] as const;
/** BITalino's ECG sensor: ECG(mV) = (ADC / 1024 − 1/2) · 3.3 V / 1100 · 1000, a 10-bit ADC. */
export const BITALINO_ECG = { rateHz: 1000, gain: 1024 / 3, baseline: 512, bits: 10 } as const;
export const BITALINO_STOP = 0x00;
export const BITALINO_VERSION_REQUEST = 0x07;

export function bitalinoFrameBytes(channels: number): number {
  if (channels < 1 || channels > 6) throw new RangeError(`BITalino has 1-6 analog channels, not ${channels}`);
  return channels <= 4 ? Math.ceil((12 + 10 * channels) / 8) : Math.ceil((52 + 6 * (channels - 4)) / 8);
}

/** The set-sampling-rate command (idle mode only). */
export function bitalinoRateCommand(hz: number): number {
  const code = BITALINO_RATES.indexOf(hz as (typeof BITALINO_RATES)[number]);
  if (code < 0) throw new RangeError(`BITalino samples at ${BITALINO_RATES.join(', ')} Hz, not ${hz}`);
  return (code << 6) | 0x03;
}

/** The start command for analog channels A1..A6 given as 0..5 (live mode; simulated sets bit 1). */
export function bitalinoStartCommand(channels: number[], simulated = false): number {
  let cmd = simulated ? 0x02 : 0x01;
  for (const c of channels) {
    if (!(c >= 0 && c <= 5)) throw new RangeError(`BITalino channel A${c + 1} does not exist`);
    cmd |= 1 << (2 + c);
  }
  return cmd;
}

export interface BitalinoFrame {
  seq: number;
  /** I1, I2, O1, O2 as bits 3..0. */
  digital: number;
  /** Values of the enabled channels in ascending order. */
  analog: ArrayLike<number>;
}

export function encodeBitalino(f: BitalinoFrame, out?: Uint8Array, at = 0): Uint8Array {
  const n = f.analog.length;
  const size = bitalinoFrameBytes(n);
  const buf = out ?? new Uint8Array(size);
  const d = (k: number) => at + size - k; // d(1) is the last byte, as the reference decoders index
  buf.fill(0, at, at + size);
  const a = (i: number, bits: number) => {
    const v = f.analog[i];
    if (!(Number.isInteger(v) && v >= 0 && v < 1 << bits))
      throw new RangeError(`A${i + 1} value ${v} not ${bits}-bit`);
    return v;
  };
  buf[d(2)] = (f.digital & 0x0f) << 4;
  if (n > 0) {
    const v = a(0, 10);
    buf[d(2)] |= v >> 6;
    buf[d(3)] |= (v & 0x3f) << 2;
  }
  if (n > 1) {
    const v = a(1, 10);
    buf[d(3)] |= v >> 8;
    buf[d(4)] = v & 0xff;
  }
  if (n > 2) {
    const v = a(2, 10);
    buf[d(5)] = v >> 2;
    buf[d(6)] |= (v & 0x03) << 6;
  }
  if (n > 3) {
    const v = a(3, 10);
    buf[d(6)] |= v >> 4;
    buf[d(7)] |= (v & 0x0f) << 4;
  }
  if (n > 4) {
    const v = a(4, 6);
    buf[d(7)] |= v >> 2;
    buf[d(8)] |= (v & 0x03) << 6;
  }
  if (n > 5) buf[d(8)] |= a(5, 6);
  buf[d(1)] = (f.seq & 0x0f) << 4;
  buf[d(1)] |= crc4Bitalino(buf, at, size);
  return buf;
}

/** Decodes one frame at `at`; null when its CRC fails. */
export function decodeBitalino(buf: Uint8Array, at: number, channels: number): BitalinoFrame | null {
  const size = bitalinoFrameBytes(channels);
  const b = (k: number) => buf[at + size - k];
  if ((b(1) & 0x0f) !== crc4Bitalino(buf, at, size)) return null;
  const analog: number[] = [];
  if (channels > 0) analog.push(((b(2) & 0x0f) << 6) | (b(3) >> 2));
  if (channels > 1) analog.push(((b(3) & 0x03) << 8) | b(4));
  if (channels > 2) analog.push((b(5) << 2) | (b(6) >> 6));
  if (channels > 3) analog.push(((b(6) & 0x3f) << 4) | (b(7) >> 4));
  if (channels > 4) analog.push(((b(7) & 0x0f) << 2) | (b(8) >> 6));
  if (channels > 5) analog.push(b(8) & 0x3f);
  return { seq: b(1) >> 4, digital: b(2) >> 4, analog };
}

/**
 * The host side: frames have no delimiter, so the decoder locks on two consecutive frames whose CRC
 * holds and whose sequence numbers follow; a CRC failure while locked is counted and the decoder
 * slides byte by byte until it locks again. Emits the chosen channel (index among the enabled ones).
 */
export class BitalinoDecoder implements StreamDecoder {
  onFrame: (f: SampleFrame) => void = () => {};
  readonly stats: DecoderStats = emptyStats();
  private readonly size: number;
  private readonly buf: Uint8Array;
  private len = 0;
  private locked = false;

  constructor(
    private readonly channels: number,
    private readonly channel = 0,
    private readonly sampleRateHz = 1000,
  ) {
    this.size = bitalinoFrameBytes(channels);
    this.buf = new Uint8Array(this.size * 64);
  }

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length;) {
      const n = Math.min(chunk.length - i, this.buf.length - this.len);
      this.buf.set(chunk.subarray(i, i + n), this.len);
      this.len += n;
      i += n;
      this.drain();
    }
  }

  private drain(): void {
    const s = this.size;
    let at = 0;
    const values: number[] = [];
    let firstSeq = -1;
    let flags = 0;
    const emit = () => {
      if (values.length === 0) return;
      this.stats.frames++;
      this.stats.samples += values.length;
      this.onFrame({
        seq: firstSeq,
        seqModulus: 16,
        seqPerSample: true,
        flags,
        samples: Int32Array.from(values),
        sampleRateHz: this.sampleRateHz,
      });
      values.length = 0;
    };
    let lastSeq = -1;
    while (at + s <= this.len) {
      const f = decodeBitalino(this.buf, at, this.channels);
      if (!this.locked) {
        const next = f && at + 2 * s <= this.len ? decodeBitalino(this.buf, at + s, this.channels) : null;
        if (f && next && next.seq === ((f.seq + 1) & 0x0f)) {
          this.locked = true;
        } else {
          if (!f || at + 2 * s <= this.len) {
            this.stats.malformed++; // one byte skipped while hunting for frames
            at++;
            continue;
          }
          break; // a valid frame at the end: wait for the next to confirm
        }
      }
      if (!f) {
        this.stats.crcErrors++;
        this.locked = false;
        emit();
        at++;
        continue;
      }
      // A sequence break becomes a new SampleFrame so the source sees the gap.
      if (lastSeq >= 0 && f.seq !== ((lastSeq + 1) & 0x0f)) emit();
      if (values.length === 0) firstSeq = f.seq;
      values.push(f.analog[this.channel]);
      lastSeq = f.seq;
      at += s;
    }
    emit();
    this.buf.copyWithin(0, at, this.len);
    this.len -= at;
  }
}

/** What a host sent to the device, for a replayer that behaves as one. */
export type BitalinoCommand =
  | { type: 'start'; channels: number[]; simulated: boolean }
  | { type: 'stop' }
  | { type: 'rate'; hz: number }
  | { type: 'version' }
  | { type: 'other'; byte: number };

/** Parses command bytes as the device does: their meaning depends on idle or live mode. */
export function parseBitalinoCommand(byte: number, live: boolean): BitalinoCommand {
  if (byte === BITALINO_STOP) return { type: 'stop' };
  if (live) return { type: 'other', byte }; // digital outputs and the like
  if (byte === BITALINO_VERSION_REQUEST) return { type: 'version' };
  const mode = byte & 0x03;
  if (mode === 0x03) return { type: 'rate', hz: BITALINO_RATES[byte >> 6] };
  if (mode === 0x01 || mode === 0x02) {
    const channels: number[] = [];
    for (let c = 0; c < 6; c++) if (byte & (1 << (2 + c))) channels.push(c);
    return channels.length ? { type: 'start', channels, simulated: mode === 0x02 } : { type: 'other', byte };
  }
  return { type: 'other', byte }; // battery threshold
}
