import { UnavailableError } from '../errors.js';
import { Resampler } from '../dsp/resampler.js';
import { encodeAscii } from '../protocols/ascii.js';
import { BITALINO_ECG, encodeBitalino, parseBitalinoCommand } from '../protocols/bitalino.js';
import { encodeCanSamples, encodeCanStatus, encodeSlcan, parseSlcan } from '../protocols/can.js';
import { loadSocketCan, type SocketCanModule } from '../sources/socketcan-source.js';
import { SerialDevice } from '../sources/serial-device.js';
import { encodeEcgSerial } from '../protocols/ecg-serial.js';
import { FrameFlag, type SerialProtocol } from '../protocols/types.js';
import { openChannel } from '../records/open.js';
import { RecordError } from '../records/errors.js';
import { TimingStats, waitUntil } from './pacer.js';

export interface ReplayTarget {
  kind: 'serial' | 'slcan' | 'can';
  /** Device path, or the CAN interface for `can`. */
  path: string;
  baudRate: number;
}

/** `serial:/dev/ttyUSB0@115200`, `slcan:/dev/ttyACM0`, `can:can0` (SocketCAN). */
export function parseTarget(spec: string): ReplayTarget {
  const m = /^(serial|slcan|can):([^@]+)(?:@(\d+))?$/.exec(spec);
  if (!m) throw new RecordError(spec, 'expected serial:<path>[@baud], slcan:<path>[@baud] or can:<iface>');
  return { kind: m[1] as ReplayTarget['kind'], path: m[2], baudRate: m[3] ? Number(m[3]) : 115200 };
}

export interface ReplayOptions {
  record: string;
  channel?: number | string;
  protocol: SerialProtocol;
  /** 1 = real time. */
  speed?: number;
  fromS?: number;
  /** Stop at this second of the record. */
  toS?: number;
  loop?: boolean;
  /** Samples per wire frame (ecg-serial, ascii); default 1/50 s worth. */
  frameSamples?: number;
  /** Where to write; tests pass a function instead of a device. */
  write: (bytes: Uint8Array) => Promise<void>;
  /** BITalino: bytes the host sent (commands); the replayer streams only between start and stop. */
  commands?: AsyncIterable<Uint8Array>;
  /** BITalino: called as the replayer parks for a start command and as it streams again. */
  onGate?: (state: 'waiting' | 'streaming') => void;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface ReplayResult {
  samples: number;
  frames: number;
  seconds: number;
  targetRateHz: number;
  achievedRateHz: number;
  rateErrorPercent: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
}

/**
 * Replays a record's ADC values as a sensor would send them, paced from absolute deadlines on the
 * monotonic clock: frame k leaves when its last sample would have been sampled. ecg-serial, ASCII
 * and SLCAN carry the record's own values at its own rate (bit-exact); BITalino resamples to
 * 1000 Hz and maps to its 10-bit ECG sensor.
 */
export async function replayRecord(o: ReplayOptions): Promise<ReplayResult> {
  const source = await wireSamples(o);
  const rate = source.rateHz;
  if (o.protocol !== 'bitalino' && !(Number.isInteger(rate) && rate > 0 && rate < 65536)) {
    throw new RecordError(o.record, `sample rate ${rate} Hz is not a whole number the wire can carry`);
  }
  const n =
    o.protocol === 'slcan'
      ? 3
      : o.protocol === 'bitalino'
        ? 1
        : (o.frameSamples ?? Math.max(1, Math.round(rate / 50)));
  const speed = o.speed ?? 1;
  const timing = new TimingStats();
  const gate = o.protocol === 'bitalino' ? new BitalinoGate(o) : null;
  let seq = 0;
  let sent = 0;
  let frames = 0;
  let t0 = process.hrtime.bigint();
  let firstSent = 0n;
  let lastSent = 0n;
  let sentAtT0 = 0;
  /** Samples of record gaps, counted in `sent` for the clock but never on the wire. */
  let silent = 0;
  do {
    const values = source.values;
    for (let i = 0; i < values.length;) {
      if (o.signal?.aborted) break;
      // A gap in the record: the sensor is silent for it, and its sequence counter moves on.
      const missing = source.gaps.get(i);
      if (missing) {
        sent += missing;
        silent += missing;
        seq += Math.round(missing / n);
      }
      if (gate && !gate.live) {
        o.onGate?.('waiting');
        await gate.waitForStart();
        o.onGate?.('streaming');
        t0 = process.hrtime.bigint();
        sentAtT0 = sent;
      }
      let end = Math.min(values.length, i + n);
      for (const g of source.gaps.keys()) if (g > i && g < end) end = g; // no frame bridges a gap
      const frame = values.subarray(i, end);
      i = end;
      const dueNs = t0 + BigInt(Math.round((((sent - sentAtT0 + frame.length) / rate) * 1e9) / speed));
      await waitUntil(dueNs);
      if (o.protocol === 'slcan' && frames % Math.round(rate / 3) === 0) {
        // ECG_Status once a second (first before any sample): rate, gain and baseline for the receiver.
        const status = {
          sampleRateHz: rate,
          gain: source.gain,
          baseline: source.baseline,
          flags: 0,
          counter: frames,
        };
        await o.write(Buffer.from(encodeSlcan(encodeCanStatus(status))));
      }
      const bytes = encodeFrame(o.protocol, frame, seq, source);
      await o.write(bytes);
      const at = process.hrtime.bigint();
      timing.record(dueNs, at);
      if (!firstSent) firstSent = at;
      lastSent = at;
      seq++;
      frames++;
      sent += frame.length;
    }
  } while (o.loop && !o.signal?.aborted);
  gate?.close();
  const seconds = Number(lastSent - firstSent) / 1e9;
  const achieved = frames > 1 ? (sent - n) / seconds : 0; // samples after the first frame, over its span
  const target = rate * speed;
  const t = timing.summary();
  const result: ReplayResult = {
    samples: sent - silent,
    frames,
    seconds,
    targetRateHz: target,
    achievedRateHz: achieved,
    rateErrorPercent: (100 * (achieved - target)) / target,
    latenessP50Ms: t.latenessP50Ms,
    latenessP99Ms: t.latenessP99Ms,
    latenessMaxMs: t.latenessMaxMs,
  };
  o.log?.(
    `replayed ${sent - silent} samples in ${frames} frames over ${seconds.toFixed(2)} s: ${achieved.toFixed(3)} samples/s ` +
      `(target ${target}, error ${result.rateErrorPercent.toFixed(4)} %); frame lateness p50 ${t.latenessP50Ms.toFixed(3)} ms, ` +
      `p99 ${t.latenessP99Ms.toFixed(3)} ms, max ${t.latenessMaxMs.toFixed(3)} ms`,
  );
  return result;
}

interface WireSamples {
  values: Int32Array;
  rateHz: number;
  gain: number;
  baseline: number;
  /** Values at the ADC rails (saturation flags). */
  railLow: number | null;
  railHigh: number | null;
  /** Discontinuities (EDF+D): index in `values` → samples missing before it. */
  gaps: Map<number, number>;
}

/** The values the wire carries: the record's ADC values, or BITalino's 10-bit ECG at 1000 Hz. */
export async function wireSamples(
  o: Pick<ReplayOptions, 'record' | 'channel' | 'protocol' | 'fromS' | 'toS'>,
): Promise<WireSamples> {
  const reader = await openChannel(o.record, { channel: o.channel });
  const ch = reader.info;
  const from = Math.round((o.fromS ?? 0) * ch.sampleRateHz);
  const to = o.toS === undefined ? undefined : Math.round(o.toS * ch.sampleRateHz);
  const digital: number[] = [];
  const physical: number[] = [];
  const gaps = new Map<number, number>();
  for await (const c of reader.chunks({ fromSample: from, toSample: to })) {
    if (!c.digital)
      throw new RecordError(o.record, 'the record has no ADC values to replay (a text record?)');
    if (c.gapBeforeS && digital.length > 0)
      gaps.set(digital.length, Math.round(c.gapBeforeS * ch.sampleRateHz));
    for (let i = 0; i < c.physical.length; i++) {
      digital.push(c.digital[i]);
      physical.push(c.physical[i]);
    }
  }
  if (o.protocol !== 'bitalino') {
    return {
      values: Int32Array.from(digital),
      rateHz: ch.sampleRateHz,
      gain: ch.gain ?? 200,
      baseline: ch.baseline ?? 0,
      railLow: ch.digitalMin,
      railHigh: ch.digitalMax,
      gaps,
    };
  }
  // BITalino: resample the physical signal to 1000 Hz, then through the sensor's transfer function.
  const rs = new Resampler(ch.sampleRateHz, BITALINO_ECG.rateHz, { maxFrame: 1024 });
  const out: number[] = [];
  const x = new Float64Array(1024);
  for (let i = 0; i < physical.length; i += 1024) {
    const m = Math.min(1024, physical.length - i);
    for (let k = 0; k < m; k++) x[k] = physical[i + k];
    const got = rs.process(x, 0, m);
    for (let k = 0; k < got; k++) {
      const adc = Math.round(BITALINO_ECG.baseline + rs.out[k] * BITALINO_ECG.gain);
      out.push(Math.max(0, Math.min(1023, adc)));
    }
  }
  return {
    values: Int32Array.from(out),
    rateHz: BITALINO_ECG.rateHz,
    gain: BITALINO_ECG.gain,
    baseline: BITALINO_ECG.baseline,
    railLow: 0,
    railHigh: 1023,
    gaps: new Map(), // resampled to the device's rate: a gap is played back to back
  };
}

function encodeFrame(protocol: SerialProtocol, frame: Int32Array, seq: number, s: WireSamples): Uint8Array {
  let flags = 0;
  for (const v of frame) {
    if ((s.railLow !== null && v <= s.railLow) || (s.railHigh !== null && v >= s.railHigh)) {
      flags |= FrameFlag.Saturated;
    }
  }
  switch (protocol) {
    case 'ecg-serial':
      return encodeEcgSerial({
        seq,
        flags,
        sampleRateHz: s.rateHz,
        gain: s.gain,
        baseline: s.baseline,
        samples: frame,
      });
    case 'ascii':
      return encodeAscii(frame);
    case 'slcan':
      return Buffer.from(encodeSlcan(encodeCanSamples(seq, flags, frame)));
    case 'bitalino':
      return encodeBitalino({ seq, digital: 0, analog: [frame[0]] });
  }
}

/** The device's side of BITalino: streaming starts on a start command and stops on 0x00. */
class BitalinoGate {
  live = false;
  private wake: (() => void) | null = null;
  private done = false;

  constructor(private readonly o: ReplayOptions) {
    if (!o.commands) throw new Error('BITalino replay needs the host-to-device byte stream');
    void this.listen(o.commands);
  }

  private async listen(commands: AsyncIterable<Uint8Array>): Promise<void> {
    for await (const chunk of commands) {
      for (const byte of chunk) {
        const c = parseBitalinoCommand(byte, this.live);
        if (c.type === 'start') {
          this.live = true;
          this.o.log?.(`BITalino: start, channels ${c.channels.map((k) => `A${k + 1}`).join(',')}`);
          this.wake?.();
        } else if (c.type === 'stop') {
          if (this.live) this.o.log?.('BITalino: stop');
          this.live = false;
        } else if (c.type === 'version') {
          void this.o.write(Buffer.from('BITalino_v5.2\n'));
        } else if (c.type === 'rate' && c.hz !== BITALINO_ECG.rateHz) {
          this.o.log?.(`BITalino: rate ${c.hz} Hz asked; this replayer sends ${BITALINO_ECG.rateHz} Hz`);
        }
      }
      if (this.done) return;
    }
  }

  waitForStart(): Promise<void> {
    if (this.live) return Promise.resolve();
    return new Promise((r) => {
      this.wake = () => {
        this.wake = null;
        r();
      };
    });
  }

  close(): void {
    this.done = true;
  }
}

/**
 * A SocketCAN interface as a replay sink: the replayer speaks SLCAN lines (its CAN encoding); each
 * is sent as the CAN frame it stands for.
 */
export async function openCanReplayPort(
  iface: string,
): Promise<{ write: (b: Uint8Array) => Promise<void>; close: () => Promise<void> }> {
  const mod = await loadSocketCan().catch((err: Error) => {
    throw new UnavailableError(`can:${iface}: ${err.message}`);
  });
  type SendingChannel = ReturnType<SocketCanModule['createRawChannel']> & {
    send(msg: { id: number; ext: boolean; rtr: boolean; data: Buffer }): void;
  };
  let channel: SendingChannel;
  try {
    channel = mod.createRawChannel(iface, true) as SendingChannel;
    channel.start();
  } catch (err) {
    // socketcan says only "Error while creating channel": name the interface and the likely cause.
    throw new UnavailableError(
      `can:${iface}: cannot open the CAN interface (${(err as Error).message}; does it exist and is it up? ip link show ${iface})`,
    );
  }
  return {
    write: async (b) => {
      for (const line of Buffer.from(b).toString('latin1').split('\r')) {
        const f = line ? parseSlcan(line) : null;
        if (f) channel.send({ id: f.id, ext: false, rtr: false, data: Buffer.from(f.data) });
      }
    },
    close: async () => channel.stop(),
  };
}

/** Opens a serial device (or pty) for the replayer: a write function and the bytes coming back. */
export async function openReplayPort(target: ReplayTarget): Promise<{
  write: (b: Uint8Array) => Promise<void>;
  incoming: AsyncIterable<Uint8Array>;
  close: () => Promise<void>;
}> {
  const port = await SerialDevice.open(target.path, target.baudRate).catch((err: Error) => {
    throw new UnavailableError(`${target.path}: cannot open: ${err.message}`);
  });
  const queue: Uint8Array[] = [];
  let notify: (() => void) | null = null;
  let closed = false;
  port.onData = (b) => {
    queue.push(Uint8Array.from(b)); // the device reuses its read buffer
    notify?.();
  };
  port.onLost = () => {
    closed = true;
    notify?.();
  };
  const incoming: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      while (!closed || queue.length) {
        if (queue.length) yield queue.shift()!;
        else await new Promise<void>((r) => (notify = r));
      }
    },
  };
  return {
    write: (b) => port.write(b),
    incoming,
    close: async () => {
      await port.close();
      closed = true;
      notify?.();
    },
  };
}
