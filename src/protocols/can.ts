import { type DecoderStats, emptyStats, type SampleFrame } from './types.js';

/**
 * The ECG sensor on CAN (hw/can/ecg-sensor.dbc), classic 11-bit ids, 8 data bytes:
 *
 *   0x520 ECG_Samples: byte 0 sequence (u8, +1 per frame), byte 1 flags (bit 0 lead-off,
 *                      bit 1 saturated, bits 6-7 sample count − 1), bytes 2-7 up to 3 × int16 LE
 *   0x521 ECG_Status:  bytes 0-1 sample rate Hz (u16), 2-3 gain ×0.1 adu/mV (u16),
 *                      4-5 baseline (i16), byte 6 status bits (as flags), byte 7 status counter
 */
export const CAN_ID_SAMPLES = 0x520;
export const CAN_ID_STATUS = 0x521;
export const CAN_SAMPLES_PER_FRAME = 3;

export interface CanFrame {
  id: number;
  data: Uint8Array;
}

export interface CanStatus {
  sampleRateHz: number;
  gain: number;
  baseline: number;
  flags: number;
  counter: number;
}

export function encodeCanSamples(seq: number, flags: number, samples: ArrayLike<number>): CanFrame {
  const n = samples.length;
  if (n < 1 || n > CAN_SAMPLES_PER_FRAME) throw new RangeError(`1-3 samples per CAN frame, not ${n}`);
  const data = new Uint8Array(2 + 2 * n);
  const dv = new DataView(data.buffer);
  data[0] = seq & 0xff;
  data[1] = (flags & 0x03) | ((n - 1) << 6);
  for (let i = 0; i < n; i++) {
    const v = samples[i];
    if (!(Number.isInteger(v) && v >= -32768 && v <= 32767))
      throw new RangeError(`sample ${v} outside int16`);
    dv.setInt16(2 + 2 * i, v, true);
  }
  return { id: CAN_ID_SAMPLES, data };
}

export function encodeCanStatus(s: CanStatus): CanFrame {
  const data = new Uint8Array(8);
  const dv = new DataView(data.buffer);
  dv.setUint16(0, s.sampleRateHz, true);
  dv.setUint16(2, Math.round(s.gain * 10), true);
  dv.setInt16(4, s.baseline, true);
  data[6] = s.flags & 0xff;
  data[7] = s.counter & 0xff;
  return { id: CAN_ID_STATUS, data };
}

/** Turns CAN frames into sample frames; the latest status supplies rate, gain and baseline. */
export class CanDecoder {
  onFrame: (f: SampleFrame) => void = () => {};
  onStatus: (s: CanStatus) => void = () => {};
  readonly stats: DecoderStats = emptyStats();
  status: CanStatus | null = null;

  push(frame: CanFrame): void {
    const d = frame.data;
    if (frame.id === CAN_ID_STATUS) {
      if (d.length !== 8) {
        this.stats.malformed++;
        return;
      }
      const dv = new DataView(d.buffer, d.byteOffset, 8);
      this.status = {
        sampleRateHz: dv.getUint16(0, true),
        gain: dv.getUint16(2, true) / 10,
        baseline: dv.getInt16(4, true),
        flags: d[6],
        counter: d[7],
      };
      this.onStatus(this.status);
      return;
    }
    if (frame.id !== CAN_ID_SAMPLES) return; // other traffic on the bus is not ours
    const n = d.length >= 2 ? (d[1] >> 6) + 1 : 0;
    if (n > CAN_SAMPLES_PER_FRAME || d.length !== 2 + 2 * n) {
      this.stats.malformed++;
      return;
    }
    const dv = new DataView(d.buffer, d.byteOffset, d.length);
    const samples = new Int32Array(n);
    for (let i = 0; i < n; i++) samples[i] = dv.getInt16(2 + 2 * i, true);
    this.stats.frames++;
    this.stats.samples += n;
    this.onFrame({
      seq: d[0],
      seqModulus: 256,
      seqPerSample: false,
      flags: d[1] & 0x03,
      samples,
      ...(this.status && {
        sampleRateHz: this.status.sampleRateHz,
        gain: this.status.gain,
        baseline: this.status.baseline,
      }),
    });
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();

/** Lawicel SLCAN: `tIIILDD…\r` for a standard frame. */
export function encodeSlcan(f: CanFrame): string {
  return `t${f.id.toString(16).toUpperCase().padStart(3, '0')}${f.data.length}${hex(f.data)}\r`;
}

/** Parses one SLCAN line (without its CR); null for anything that is not a well-formed standard frame. */
export function parseSlcan(line: string): CanFrame | null {
  const m = /^t([0-7][0-9A-Fa-f]{2})([0-8])([0-9A-Fa-f]*)$/.exec(line);
  if (!m || m[3].length !== 2 * Number(m[2])) return null;
  return { id: Number.parseInt(m[1], 16), data: Uint8Array.from(Buffer.from(m[3], 'hex')) };
}

/** SLCAN adapter set-up: bitrate code (S6 = 500 kbit/s), then open. */
export const SLCAN_OPEN_500K = 'C\rS6\rO\r';
export const SLCAN_CLOSE = 'C\r';

/** candump -l log line: `(seconds.micro) iface ID#DATA`. */
export function encodeCandump(f: CanFrame, timeS: number, iface: string): string {
  return `(${timeS.toFixed(6)}) ${iface} ${f.id.toString(16).toUpperCase().padStart(3, '0')}#${hex(f.data)}`;
}

export function parseCandump(line: string): { timeS: number; iface: string; frame: CanFrame } | null {
  const m = /^\((\d+\.\d+)\)\s+(\S+)\s+([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#([0-9A-Fa-f]*)$/.exec(line.trim());
  if (!m || m[4].length % 2 !== 0 || m[4].length > 16) return null;
  return {
    timeS: Number(m[1]),
    iface: m[2],
    frame: { id: Number.parseInt(m[3], 16), data: Uint8Array.from(Buffer.from(m[4], 'hex')) },
  };
}

/**
 * SLCAN over a serial line: CR-terminated lines; `t…` frames go to a CanDecoder, the adapter's
 * acknowledgements (empty lines, BEL for an error) and anything unparseable are skipped (counted).
 */
export class SlcanStreamDecoder {
  readonly can = new CanDecoder();
  private line = '';

  get stats(): DecoderStats {
    return this.can.stats;
  }

  get onFrame(): (frame: SampleFrame) => void {
    return this.can.onFrame;
  }

  set onFrame(f: (frame: SampleFrame) => void) {
    this.can.onFrame = f;
  }

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x0d || b === 0x0a || b === 0x07) {
        if (this.line.length > 0) {
          const f = parseSlcan(this.line);
          if (f) this.can.push(f);
          else this.can.stats.malformed++;
        }
        this.line = '';
      } else if (this.line.length < 32) {
        this.line += String.fromCharCode(b);
      } else {
        this.line = 'x'.repeat(33); // too long: malformed when it ends
      }
    }
  }
}
