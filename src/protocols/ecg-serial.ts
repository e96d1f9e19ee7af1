import { cobsDecode, cobsEncode } from './cobs.js';
import { crc16 } from './crc.js';
import { type DecoderStats, emptyStats, type SampleFrame, type StreamDecoder } from './types.js';

/**
 * The project's serial framing (hw/protocols/ecg-serial.md): a little-endian frame, COBS-encoded,
 * ended by 0x00.
 *
 *   0  u8   version (1)
 *   1  u8   flags: bit 0 lead-off, bit 1 saturated, bit 7 samples are int24 (else int16)
 *   2  u16  sequence number (+1 per frame, wraps)
 *   4  u16  sample rate, Hz
 *   6  f32  gain, ADC units per mV
 *   10 i32  baseline, ADC units
 *   14 u8   N samples (1-255)
 *   15      N × int16 or int24
 *   ..  u16  CRC-16/CCITT-FALSE of everything before it
 */
export const ECG_SERIAL_VERSION = 1;
const HEADER = 15;
const INT24 = 0x80;
export const MAX_SAMPLES = 255;
const MAX_FRAME = HEADER + 3 * MAX_SAMPLES + 2;

export interface EcgSerialFrame {
  seq: number;
  flags: number;
  sampleRateHz: number;
  gain: number;
  baseline: number;
  samples: ArrayLike<number>;
}

/** Picks int16 when every sample fits, else int24. */
export function encodeEcgSerial(f: EcgSerialFrame): Uint8Array {
  const n = f.samples.length;
  if (n < 1 || n > MAX_SAMPLES) throw new RangeError(`a frame holds 1-${MAX_SAMPLES} samples, not ${n}`);
  let wide = false;
  for (let i = 0; i < n; i++) {
    const v = f.samples[i];
    if (!Number.isInteger(v) || v < -(1 << 23) || v >= 1 << 23)
      throw new RangeError(`sample ${v} outside int24`);
    if (v < -32768 || v > 32767) wide = true;
  }
  const width = wide ? 3 : 2;
  const raw = new Uint8Array(HEADER + width * n + 2);
  const dv = new DataView(raw.buffer);
  raw[0] = ECG_SERIAL_VERSION;
  raw[1] = (f.flags & 0x7f) | (wide ? INT24 : 0);
  dv.setUint16(2, f.seq & 0xffff, true);
  dv.setUint16(4, f.sampleRateHz, true);
  dv.setFloat32(6, f.gain, true);
  dv.setInt32(10, f.baseline, true);
  raw[14] = n;
  for (let i = 0; i < n; i++) {
    const v = f.samples[i];
    const o = HEADER + width * i;
    if (wide) {
      raw[o] = v & 0xff;
      raw[o + 1] = (v >> 8) & 0xff;
      raw[o + 2] = (v >> 16) & 0xff;
    } else {
      dv.setInt16(o, v, true);
    }
  }
  dv.setUint16(raw.length - 2, crc16(raw, 0, raw.length - 2), true);
  const stuffed = cobsEncode(raw);
  const out = new Uint8Array(stuffed.length + 1);
  out.set(stuffed);
  return out; // last byte 0x00: the delimiter
}

/** Resynchronises at every 0x00; a block that fails COBS, length, version or CRC is counted and dropped. */
export class EcgSerialDecoder implements StreamDecoder {
  onFrame: (f: SampleFrame) => void = () => {};
  readonly stats: DecoderStats = emptyStats();
  private readonly block = new Uint8Array(MAX_FRAME + 8);
  private blockLen = 0;
  private overflow = false;
  private readonly raw = new Uint8Array(MAX_FRAME + 8);

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== 0) {
        if (this.blockLen < this.block.length) this.block[this.blockLen++] = b;
        else this.overflow = true;
        continue;
      }
      if (this.blockLen > 0 || this.overflow) this.frameEnded();
      this.blockLen = 0;
      this.overflow = false;
    }
  }

  private frameEnded(): void {
    const n = this.overflow ? -1 : cobsDecode(this.block, 0, this.blockLen, this.raw);
    const raw = this.raw;
    if (n < HEADER + 2 + 2 || raw[0] !== ECG_SERIAL_VERSION) {
      this.stats.malformed++;
      return;
    }
    const count = raw[14];
    const width = raw[1] & INT24 ? 3 : 2;
    if (count === 0 || n !== HEADER + width * count + 2) {
      this.stats.malformed++;
      return;
    }
    const dv = new DataView(raw.buffer, 0, n);
    if (dv.getUint16(n - 2, true) !== crc16(raw, 0, n - 2)) {
      this.stats.crcErrors++;
      return;
    }
    const samples = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const o = HEADER + width * i;
      samples[i] =
        width === 2 ? dv.getInt16(o, true) : ((raw[o] | (raw[o + 1] << 8) | (raw[o + 2] << 16)) << 8) >> 8;
    }
    this.stats.frames++;
    this.stats.samples += count;
    this.onFrame({
      seq: dv.getUint16(2, true),
      seqModulus: 65536,
      seqPerSample: false,
      flags: raw[1] & 0x7f,
      samples,
      sampleRateHz: dv.getUint16(4, true),
      gain: dv.getFloat32(6, true),
      baseline: dv.getInt32(10, true),
    });
  }
}
