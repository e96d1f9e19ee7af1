import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { QualityClass } from '../dsp/quality.js';
import { evidenceOf } from '../model/package/evidence.js';
import type { ModelManifest } from '../model/package/manifest.js';
import { RecordError } from '../records/errors.js';

/**
 * A run's event log: one JSON object per line, written by `run` (when `eventLog.path` is set)
 * and by the demo, read by `report`. Times are stream seconds: model-rate sample index over the
 * model rate, counted from the first sample of the run, so they line up with a replayed
 * recording's own time and its labels.
 */
export type EventLogRecord = StartRecord | WindowRecord | EcgRecord | EventRecord | GapRecord;

function evidenceFields(m: ModelManifest): { evidence: string; trainedOn: string[] } {
  const e = evidenceOf(m);
  return { evidence: e.text, trainedOn: e.trainedOn };
}

export interface StartRecord {
  kind: 'start';
  /** Format version of this log. */
  v: 1;
  startedAt: string;
  vehicleId: string;
  model: {
    name: string;
    version: string;
    precision: string;
    labels: string[];
    /** What the manifest's own figures show (evidenceOf), for the report's caveat; absent in older logs. */
    evidence?: string;
    /** Records the model's head was trained on, from its manifest. */
    trainedOn?: string[];
  };
  provider: string;
  /** Where the ECG came from: `serial:/dev/ttyTHS1`, `can:can0`, or a record's path. */
  source: string;
  /** A replayed record, when known: the report looks for its labels beside it. */
  record?: string;
  /** The recording it is, or was cut from: compared with `model.trainedOn`. Absent in older logs. */
  origin?: string;
  modelRateHz: number;
}

export interface WindowRecord {
  kind: 'window';
  /** Stream seconds at the window's start and end. */
  t0: number;
  t1: number;
  quality: QualityClass;
  reasons: string[];
  hrBpm: number | null;
  rmssdMs: number | null;
  /** Class probabilities in the order of the start record's labels; absent when not inferred. */
  p?: number[];
  inferenceMs?: number;
  /** From the ingress of the frame that completed the window to the decision. */
  totalMs?: number;
  /** A usable window skipped because the model was still busy with the previous one. */
  skipped?: true;
}

/** A stretch of the cleaned ECG (mV), stored as int16 microvolts, with the beats detected in it. */
export interface EcgRecord {
  kind: 'ecg';
  t0: number;
  rateHz: number;
  /** Base64 of little-endian int16 µV. */
  uv: string;
  /** Stream seconds of the R-peaks in this stretch. */
  beats: number[];
}

export interface EventRecord {
  kind: 'event';
  t: number;
  type: 'new' | 'update' | 'end';
  label: string;
  confidence: number;
  episodeId: string;
  reason?: string;
}

export interface GapRecord {
  kind: 'gap';
  t: number;
  lost: number | null;
}

/** The ECG is kept at no more than this rate: the cleaned signal is low-passed at 40 Hz. */
const ECG_LOG_MAX_RATE_HZ = 250;
/** Seconds of ECG per `ecg` record. */
const ECG_RECORD_S = 10;

export interface EventLogOptions {
  /** Also log the cleaned ECG and beats (about 2.4 MB per hour), for the report's ECG strip. */
  ecg?: boolean;
  /** Past this size the file is renamed to `<path>.1` and restarted. */
  maxBytes?: number;
  /** Older files kept: `<path>.1` (the newest) … `<path>.<keep>`; older ones are deleted. */
  keep?: number;
}

/** Shifts `<path>.1`…`<path>.<keep-1>` one place up (the last one falls off), then `<path>` to `.1`. */
async function shiftGenerations(path: string, keep: number): Promise<void> {
  for (let k = keep - 1; k >= 1; k--) await rename(`${path}.${k}`, `${path}.${k + 1}`).catch(() => {});
  await rename(path, `${path}.1`).catch(() => {});
}

/**
 * Appends records to the event log. Writing is buffered and never blocks the pipeline; the log
 * is a diagnostic record, not the delivery path (that is the outbox).
 */
export class EventLogWriter {
  private stream: WriteStream;
  private bytes = 0;
  private start: StartRecord | null = null;
  private readonly ecgOn: boolean;
  private decimation = 1;
  private ecgRate = 0;
  private ecgBuf = new Int16Array(0);
  private ecgFill = 0;
  private ecgT0 = 0;
  private phase = 0;
  /** Model-rate samples seen, and where the current chain's index 0 lies among them. */
  private cleanSeen = 0;
  private offset = 0;
  private beats: number[] = [];
  private rotating: Promise<void> | null = null;
  /** Lines written while the file is being rotated. */
  private queued: string[] | null = null;

  private constructor(
    readonly path: string,
    private readonly o: EventLogOptions,
  ) {
    this.ecgOn = o.ecg ?? true;
    this.stream = this.openStream();
  }

  /**
   * Starts a new log. Earlier runs' files move up to `<path>.1`… (`keep` of them), so a crash loop
   * keeps its last runs' logs rather than only the one before.
   */
  static async open(path: string, o: EventLogOptions = {}): Promise<EventLogWriter> {
    const size = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (size > 0) await shiftGenerations(path, o.keep ?? 5);
    const w = new EventLogWriter(path, o);
    // Fail now, in one line, if the file cannot be written (rather than on the first window).
    await new Promise<void>((resolve, reject) => {
      w.stream.once('open', () => resolve());
      w.stream.once('error', reject);
    });
    return w;
  }

  private openStream(): WriteStream {
    const s = createWriteStream(this.path, { flags: 'a' });
    s.on('error', () => {}); // a failing diagnostic log must not take the daemon down
    return s;
  }

  begin(o: {
    startedAt: string;
    vehicleId: string;
    manifest: ModelManifest;
    provider: string;
    source: string;
    record?: string;
    origin?: string;
  }): void {
    const m = o.manifest;
    const start: StartRecord = {
      kind: 'start',
      v: 1,
      startedAt: o.startedAt,
      vehicleId: o.vehicleId,
      model: {
        name: m.name,
        version: m.version,
        precision: m.precision,
        labels: m.labels,
        ...evidenceFields(m),
      },
      provider: o.provider,
      source: o.source,
      ...(o.record ? { record: o.record } : {}),
      ...(o.origin ? { origin: o.origin } : {}),
      modelRateHz: m.input.sampleRateHz,
    };
    this.start = start;
    this.decimation = Math.max(1, Math.round(start.modelRateHz / ECG_LOG_MAX_RATE_HZ));
    this.ecgRate = start.modelRateHz / this.decimation;
    this.ecgBuf = new Int16Array(Math.round(this.ecgRate * ECG_RECORD_S));
    this.write(this.start);
  }

  /** A rated window, [startIndex, endIndex) at the model rate. */
  window(startIndex: number, endIndex: number, r: Omit<WindowRecord, 'kind' | 't0' | 't1'>): void {
    this.write({ kind: 'window', t0: this.seconds(startIndex), t1: this.seconds(endIndex), ...r });
  }

  /** A decision taken at the end of the window ending at `index`. */
  event(index: number, r: Omit<EventRecord, 'kind' | 't'>): void {
    this.write({ kind: 'event', t: this.seconds(index), ...r });
  }

  /** A new chain starts counting from 0 (the input rate changed): keep the log's time running. */
  restart(): void {
    this.offset = this.cleanSeen;
  }

  gap(lost: number | null): void {
    this.flushEcg();
    this.write({ kind: 'gap', t: this.seconds(this.cleanSeen - this.offset), lost });
  }

  /** Cleaned model-rate samples (mV), in stream order. */
  clean(x: Float64Array, length: number): void {
    if (this.ecgOn && this.start) this.keepEcg(x, length);
    this.cleanSeen += length; // the log's clock, with or without the ECG kept
  }

  private keepEcg(x: Float64Array, length: number): void {
    const d = this.decimation;
    for (let i = 0; i < length; i++) {
      if (this.phase === 0) {
        if (this.ecgFill === 0) this.ecgT0 = this.seconds(this.cleanSeen - this.offset + i);
        const uv = Math.round(x[i] * 1000);
        this.ecgBuf[this.ecgFill++] = uv > 32767 ? 32767 : uv < -32768 ? -32768 : uv;
        if (this.ecgFill === this.ecgBuf.length) this.flushEcg();
      }
      this.phase = (this.phase + 1) % d;
    }
  }

  /** A beat at a model-rate sample index. */
  beat(index: number): void {
    if (this.ecgOn) this.beats.push(this.seconds(index));
  }

  async close(): Promise<void> {
    this.flushEcg();
    await this.rotating;
    await new Promise<void>((r) => this.stream.end(() => r()));
  }

  /** Stream seconds of a sample index of the current chain. */
  private seconds(index: number): number {
    return round6((this.offset + index) / (this.start?.modelRateHz ?? 1));
  }

  private flushEcg(): void {
    if (this.ecgFill === 0) return;
    const bytes = Buffer.from(this.ecgBuf.buffer, 0, this.ecgFill * 2);
    this.write({
      kind: 'ecg',
      t0: this.ecgT0,
      rateHz: this.ecgRate,
      uv: bytes.toString('base64'),
      beats: this.beats,
    });
    this.beats = [];
    this.ecgFill = 0;
  }

  private write(r: EventLogRecord): void {
    this.writeLine(`${JSON.stringify(r)}\n`);
  }

  private writeLine(line: string): void {
    if (this.queued) {
      this.queued.push(line);
      return;
    }
    this.bytes += Buffer.byteLength(line);
    this.stream.write(line);
    if (this.o.maxBytes && this.bytes > this.o.maxBytes) this.rotate();
  }

  /** Moves the file to `<path>.1` (older ones up); the new one starts with the start record. */
  private rotate(): void {
    this.queued = [];
    const old = this.stream;
    this.rotating = new Promise<void>((r) => old.end(() => r()))
      .then(() => shiftGenerations(this.path, this.o.keep ?? 5))
      .catch(() => {})
      .then(() => {
        this.stream = this.openStream();
        this.bytes = 0;
        const lines = this.queued ?? [];
        this.queued = null;
        if (this.start) this.write(this.start);
        for (const l of lines) this.writeLine(l);
        this.rotating = null;
      });
  }
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

export interface EventLog {
  start: StartRecord;
  windows: WindowRecord[];
  ecg: EcgRecord[];
  events: EventRecord[];
  gaps: GapRecord[];
  /** Lines that were not valid records (a torn last line after a crash, or garbage), by number. */
  badLines: number[];
}

const KINDS = new Set(['start', 'window', 'ecg', 'event', 'gap']);

/**
 * Reads an event log. Lines that do not parse are counted and skipped (a log cut by a crash
 * still reports); a file without a start record is refused.
 */
export async function readEventLog(file: string): Promise<EventLog> {
  const log: Omit<EventLog, 'start'> & { start: StartRecord | null } = {
    start: null,
    windows: [],
    ecg: [],
    events: [],
    gaps: [],
    badLines: [],
  };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      let r: EventLogRecord;
      try {
        r = JSON.parse(line) as EventLogRecord;
      } catch {
        log.badLines.push(n);
        continue;
      }
      if (typeof r !== 'object' || r === null || !KINDS.has(r.kind)) {
        log.badLines.push(n);
        continue;
      }
      if (r.kind === 'start') {
        // A rotated log repeats its start record; the first one describes the run.
        if (r.v !== 1)
          throw new RecordError(file, `line ${n}: event log version ${String(r.v)} is not supported`);
        log.start ??= r;
      } else if (r.kind === 'window') log.windows.push(r);
      else if (r.kind === 'ecg') log.ecg.push(r);
      else if (r.kind === 'event') log.events.push(r);
      else log.gaps.push(r);
    }
  } catch (err) {
    if (err instanceof RecordError) throw err;
    throw new RecordError(file, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  if (!log.start) throw new RecordError(file, 'no start record: not an ecg-emotiond event log');
  log.windows.sort((a, b) => a.t1 - b.t1);
  return log as EventLog;
}

/** Decodes an `ecg` record's samples to mV. */
export function ecgSamples(r: EcgRecord): Float32Array {
  const b = Buffer.from(r.uv, 'base64');
  const out = new Float32Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(2 * i) / 1000;
  return out;
}

/** The span an `ecg` record covers, without decoding it. */
export function ecgSeconds(r: EcgRecord): number {
  return (Buffer.byteLength(r.uv, 'base64') >> 1) / r.rateHz;
}
