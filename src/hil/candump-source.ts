import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { waitUntil } from './pacer.js';
import { parseCandump } from '../protocols/can.js';
import type { SampleFrame } from '../protocols/types.js';
import { CanChannel } from '../sources/can-channel.js';
import type { SourceState, SourceStats, WireSource } from '../sources/source.js';

export interface CandumpOptions {
  file: string;
  /** Only frames from this interface (candump logs can hold several). */
  iface?: string;
  /** Replay at the log's own timing scaled by this factor; 0 = as fast as possible. */
  speed?: number;
}

/**
 * ECG from a `candump -l` log: the same CAN channel logic as the live SocketCAN source, so a log
 * recorded on a vehicle can be captured into a record (`record --source candump:FILE`) and analysed
 * or replayed anywhere (this machine has no CAN). Unparseable lines are counted as malformed.
 */
export class CandumpSource implements WireSource {
  onFrame: (f: SampleFrame, arrivalNs: bigint) => void = () => {};
  onGap: (lost: number | null) => void = () => {};
  onState: (state: SourceState, detail: string) => void = () => {};
  /** Resolves at the end of the log (or at `stop`); rejects when the file cannot be read. */
  readonly finished: Promise<void>;
  private readonly channel = new CanChannel();
  private readonly abort = new AbortController();
  private begin: () => void = () => {};

  constructor(private readonly o: CandumpOptions) {
    this.channel.onFrame = (f, at) => this.onFrame(f, at);
    this.channel.onGap = (lost) => this.onGap(lost);
    this.channel.onState = (s, d) => this.onState(s, d);
    const started = new Promise<void>((resolve) => (this.begin = resolve));
    this.finished = started.then(() => this.read());
  }

  get state(): SourceState {
    return this.channel.state;
  }

  get stats(): SourceStats {
    return this.channel.stats;
  }

  start(): void {
    this.begin();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.finished.catch(() => {});
  }

  private async read(): Promise<void> {
    const lines = createInterface({
      input: createReadStream(this.o.file),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    const speed = this.o.speed ?? 0;
    let first: number | null = null;
    const t0 = process.hrtime.bigint();
    for await (const line of lines) {
      if (this.abort.signal.aborted) break;
      if (line.trim() === '') continue;
      const parsed = parseCandump(line);
      if (!parsed) {
        this.channel.decoder.stats.malformed++;
        continue;
      }
      if (this.o.iface && parsed.iface !== this.o.iface) continue;
      first ??= parsed.timeS;
      const at = t0 + BigInt(Math.round(((parsed.timeS - first) * 1e9) / (speed || 1)));
      if (speed > 0) await waitUntil(at);
      this.channel.receive(parsed.frame, at);
    }
    this.channel.setState('disconnected', `end of ${this.o.file}`);
  }
}
