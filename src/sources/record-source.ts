import { basename } from 'node:path';
import { resolveRecord } from '../records/resolve.js';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { SampleFlag } from '../dsp/flags.js';
import { openChannel, recordName } from '../records/open.js';
import { atRail, type ChannelInfo, type ChannelReader } from '../records/types.js';
import type { EcgFrame, EcgSource, SourceState, SourceStats } from './source.js';

export interface RecordSourceOptions {
  /** Playback speed, × real time; Infinity plays as fast as `pace` lets it. */
  speed?: number;
  /** Seconds of ECG per frame. */
  frameS?: number;
  /** Seconds of ECG to play in all; with `loop` the record starts over until then. */
  durationS?: number;
  loop?: boolean;
  /** Awaited after each frame (the soak waits here for the model to finish the window). */
  pace?: () => Promise<void>;
}

/**
 * A WFDB, EDF or CSV record played as a sensor would send it: frames in mV at the record's rate,
 * paced by absolute deadlines at `speed` × real time, samples at the ADC rails flagged saturated,
 * an EDF+D discontinuity (or a loop back to the start) reported as a gap. The demo, the soak and
 * the tests read the daemon's field path through it.
 */
export class RecordSource implements EcgSource {
  onFrame: (frame: EcgFrame, arrivalNs: bigint) => void = () => {};
  onGap: (lostSamples: number | null) => void = () => {};
  onState: (state: SourceState, detail: string) => void = () => {};
  state: SourceState = 'disconnected';
  readonly name: string;
  readonly record: string;
  readonly origin: string;
  readonly info: ChannelInfo;
  /** Seconds of ECG played so far (over every loop). */
  positionS = 0;
  /** Resolves when playback ends: the record (or `durationS`) is through, or `stop()`. */
  readonly finished: Promise<void>;
  private finish: () => void = () => {};
  private stopped = false;
  private samples = 0;
  private frames = 0;
  private loops = 0;
  private readonly frame: EcgFrame;

  /** Opens the record first, so that a missing or unreadable one fails here, in one line. */
  static async open(path: string, options: RecordSourceOptions = {}): Promise<RecordSource> {
    const found = resolveRecord(path);
    return new RecordSource(found, await openChannel(found), options);
  }

  private constructor(
    private readonly path: string,
    private reader: ChannelReader,
    private readonly o: RecordSourceOptions,
  ) {
    this.info = reader.info;
    this.name = `record:${basename(path)}`;
    this.record = path;
    this.origin = this.info.origin ?? recordName(path);
    const n = Math.max(1, Math.round((o.frameS ?? 0.25) * this.info.sampleRateHz));
    this.frame = { mv: new Float64Array(n), flags: new Uint8Array(n), length: 0, sampleRateHz: 0 };
    this.frame.sampleRateHz = this.info.sampleRateHz;
    this.finished = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get stats(): SourceStats {
    return {
      frames: this.frames,
      samples: this.samples,
      crcErrors: 0,
      malformed: 0,
      gaps: this.loops,
      lostSamples: 0,
      reconnects: 0,
      bytes: 0,
    };
  }

  start(): void {
    this.stopped = false;
    this.setState('connected', this.path);
    this.play().then(
      () => this.end('end of record'),
      (err: Error) => this.end(`record unreadable: ${err.message}`),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.finished;
  }

  private async play(): Promise<void> {
    const rate = this.info.sampleRateHz;
    const until = this.o.durationS ?? Number.POSITIVE_INFINITY;
    const speed = this.o.speed ?? 1;
    const wall0 = process.hrtime.bigint();
    for (;;) {
      for await (const chunk of this.reader.chunks({ chunkSamples: this.frame.mv.length })) {
        if (this.stopped || this.positionS >= until) return;
        if (chunk.gapBeforeS) this.onGap(Math.round(chunk.gapBeforeS * rate));
        this.emit(chunk.physical, chunk.digital);
        this.positionS += chunk.physical.length / rate;
        await this.o.pace?.();
        if (Number.isFinite(speed)) {
          const due = wall0 + BigInt(Math.round((this.positionS / speed) * 1e9));
          const aheadMs = Number(due - process.hrtime.bigint()) / 1e6;
          if (aheadMs > 0) await new Promise((r) => setTimeout(r, aheadMs));
        } else await yieldToIo(); // let the broker, the worker and the timers run
      }
      if (!this.o.loop || this.stopped || this.positionS >= until) return;
      this.loops++;
      this.reader = await openChannel(this.path);
      this.onGap(null); // the end of the record does not run on into its start
    }
  }

  private emit(physical: Float64Array, digital: Int32Array | null): void {
    const f = this.frame;
    const n = physical.length;
    if (f.mv.length < n) {
      f.mv = new Float64Array(n);
      f.flags = new Uint8Array(n);
    }
    for (let i = 0; i < n; i++) {
      f.mv[i] = physical[i];
      f.flags[i] = digital && atRail(this.info, digital[i]) ? SampleFlag.Saturated : 0;
    }
    f.length = n;
    this.frames++;
    this.samples += n;
    this.onFrame(f, process.hrtime.bigint());
  }

  private end(detail: string): void {
    this.setState('disconnected', detail);
    this.finish();
  }

  private setState(state: SourceState, detail: string): void {
    this.state = state;
    this.onState(state, detail);
  }
}
