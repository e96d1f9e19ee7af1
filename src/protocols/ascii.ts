import { type DecoderStats, emptyStats, type SampleFrame, type StreamDecoder } from './types.js';

const MAX_LINE = 32;

/** One integer sample per line, as hobby front ends (an AD8232 on a microcontroller) print them. */
export function encodeAscii(samples: ArrayLike<number>): Uint8Array {
  let s = '';
  for (let i = 0; i < samples.length; i++) s += `${samples[i]}\n`;
  return Buffer.from(s, 'latin1');
}

/**
 * Lines of an optional sign and digits (CR before LF tolerated); anything else, or a line longer
 * than 32 bytes, is counted as malformed and skipped. A frame is what one chunk completed.
 */
export class AsciiDecoder implements StreamDecoder {
  onFrame: (f: SampleFrame) => void = () => {};
  readonly stats: DecoderStats = emptyStats();
  private value = 0;
  private digits = 0;
  private negative = false;
  private bad = false;
  private cr = false;
  private length = 0;
  private readonly pending = new Int32Array(4096);
  private count = 0;

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x0a) {
        this.lineEnded();
        continue;
      }
      if (++this.length > MAX_LINE) {
        this.bad = true;
        continue;
      }
      if (this.cr) {
        this.bad = true; // only LF may follow CR
      } else if (b >= 0x30 && b <= 0x39) {
        this.value = this.value * 10 + (b - 0x30);
        this.digits++;
      } else if ((b === 0x2d || b === 0x2b) && this.length === 1) {
        this.negative = b === 0x2d;
      } else if (b === 0x0d) {
        this.cr = true;
      } else {
        this.bad = true;
      }
    }
    this.flush();
  }

  private lineEnded(): void {
    if (this.length === 0) return; // blank line
    if (this.bad || this.digits === 0 || this.digits > 9) {
      this.stats.malformed++;
    } else {
      if (this.count === this.pending.length) this.flush();
      this.pending[this.count++] = this.negative ? -this.value : this.value;
    }
    this.value = 0;
    this.digits = 0;
    this.negative = false;
    this.bad = false;
    this.cr = false;
    this.length = 0;
  }

  private flush(): void {
    if (this.count === 0) return;
    const samples = this.pending.slice(0, this.count);
    this.count = 0;
    this.stats.frames++;
    this.stats.samples += samples.length;
    this.onFrame({ seq: null, seqModulus: 0, seqPerSample: false, flags: 0, samples });
  }
}
