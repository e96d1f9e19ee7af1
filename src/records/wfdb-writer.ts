import { type FileHandle, open, rename, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

export interface WfdbWriterOptions {
  /** Record path without extension. */
  record: string;
  sampleRateHz: number;
  gain: number;
  baseline: number;
  units?: string;
  label?: string;
  /** 16 (int16) or 32 (int32). */
  format: 16 | 32;
}

/**
 * Writes one signal as a WFDB record, streaming: samples are appended to `<record>.dat`; the header
 * (with the sample count and checksum the readers verify) is rewritten atomically by `flush` and
 * `close`, so a power cut leaves a readable record of everything flushed.
 */
export class WfdbWriter {
  private fh: FileHandle | null = null;
  private count = 0;
  private checksum = 0;
  private first = 0;

  constructor(private readonly o: WfdbWriterOptions) {}

  async open(): Promise<void> {
    this.fh = await open(`${this.o.record}.dat`, 'w');
    await this.writeHeader();
  }

  async append(samples: ArrayLike<number>): Promise<void> {
    const width = this.o.format === 16 ? 2 : 4;
    const buf = Buffer.alloc(width * samples.length);
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i];
      if (this.count + i === 0) this.first = v;
      if (width === 2) buf.writeInt16LE(Math.max(-32768, Math.min(32767, v)), 2 * i);
      else buf.writeInt32LE(v, 4 * i);
      this.checksum = (this.checksum + v) & 0xffff;
    }
    this.count += samples.length;
    await this.fh!.write(buf);
  }

  get samples(): number {
    return this.count;
  }

  async flush(): Promise<void> {
    await this.fh!.datasync();
    await this.writeHeader();
  }

  async close(): Promise<void> {
    if (!this.fh) return;
    await this.flush();
    await this.fh.close();
    this.fh = null;
  }

  private async writeHeader(): Promise<void> {
    const o = this.o;
    const name = basename(o.record);
    const signed = this.checksum >= 0x8000 ? this.checksum - 0x10000 : this.checksum;
    const text =
      `${name} 1 ${o.sampleRateHz} ${this.count}\n` +
      `${name}.dat ${o.format} ${o.gain}(${o.baseline})/${o.units ?? 'mV'} ${o.format} 0 ${this.first} ${signed} 0 ${o.label ?? 'ECG'}\n`;
    await writeFile(`${o.record}.hea.tmp`, text);
    await rename(`${o.record}.hea.tmp`, `${o.record}.hea`);
  }
}
