import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { BITALINO_ECG } from '../protocols/bitalino.js';
import type { SampleFrame } from '../protocols/types.js';
import { RecordError } from '../records/errors.js';
import { WfdbWriter } from '../records/wfdb-writer.js';
import { CandumpSource } from './candump-source.js';
import { SerialSource, type SerialSourceOptions } from '../sources/serial-source.js';
import { SocketCanSource } from '../sources/socketcan-source.js';
import type { WireSource } from '../sources/source.js';

export interface CaptureOptions extends SerialSourceOptions {
  /** Record path without extension: writes <out>.hea, <out>.dat and <out>.arrivals.csv. */
  out: string;
  /** Sample rate for protocols that do not carry it (ascii). */
  rateHz?: number;
  gain?: number;
  baseline?: number;
  seconds?: number;
  /** Read from this SocketCAN interface instead of the serial path. */
  canIface?: string;
  /** Read this `candump -l` log (to its end) instead of a device, */
  candumpFile?: string;
  /** only its frames from this interface (a log may hold several buses). */
  candumpIface?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface CaptureResult {
  samples: number;
  frames: number;
  gaps: number;
  lostSamples: number;
  crcErrors: number;
  malformed: number;
  reconnects: number;
}

function openSource(o: CaptureOptions): WireSource {
  if (o.candumpFile) return new CandumpSource({ file: o.candumpFile, iface: o.candumpIface });
  return o.canIface ? new SocketCanSource({ iface: o.canIface }) : new SerialSource(o);
}

/**
 * Captures what a sensor sends into a WFDB record (readable by the record readers, replayable by
 * `replay`), ADC values exactly as received, plus `<out>.arrivals.csv`: for every wire frame its
 * first sample index, arrival time (ns since the capture started, monotonic) and the samples the
 * sequence numbers say were lost before it (the .dat keeps received samples back to back).
 */
export async function capture(o: CaptureOptions): Promise<CaptureResult> {
  const log = o.log ?? (() => {});
  if (o.candumpFile) {
    const file = o.candumpFile;
    await access(file, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      throw new RecordError(file, `cannot read the candump log (${err.code ?? err.message})`);
    });
  }
  const source = openSource(o);
  // Opened first, so a missing or read-only folder is a one-line error before the device is touched.
  const arrivals = (await open(`${o.out}.arrivals.csv`, 'w')).createWriteStream();
  arrivals.write('sample_index,arrival_ns,lost_before\n');
  let writer: WfdbWriter | null = null;
  let opening: Promise<void> | null = null;
  let pendingLost = 0;
  let frames = 0;
  const t0 = process.hrtime.bigint();
  let chain = Promise.resolve();
  const writerFor = (f: SampleFrame) => {
    const bitalino = o.protocol === 'bitalino';
    const rate = f.sampleRateHz ?? o.rateHz ?? (bitalino ? BITALINO_ECG.rateHz : undefined);
    if (!rate) throw new Error(`${o.protocol} does not carry the sample rate: give --rate`);
    writer = new WfdbWriter({
      record: o.out,
      sampleRateHz: rate,
      gain: f.gain ?? o.gain ?? (bitalino ? BITALINO_ECG.gain : 200),
      baseline: f.baseline ?? o.baseline ?? (bitalino ? BITALINO_ECG.baseline : 0),
      format: o.protocol === 'ecg-serial' || o.protocol === 'ascii' ? 32 : 16,
    });
    return writer.open();
  };
  source.onGap = (lost) => {
    pendingLost += lost ?? 0;
    log(`gap: ${lost ?? 'an unknown number of'} samples lost`);
  };
  source.onState = (state, detail) => log(`source ${state}: ${detail}`);
  source.onFrame = (f, arrivalNs) => {
    frames++;
    const lost = pendingLost;
    pendingLost = 0;
    // Writes are chained so frames land in order even while the file opens.
    chain = chain.then(async () => {
      if (!writer) {
        opening ??= writerFor(f);
        await opening;
      }
      const w = writer!;
      arrivals.write(`${w.samples},${arrivalNs - t0},${lost}\n`);
      await w.append(f.samples);
    });
  };
  source.start();
  const flushTimer = setInterval(() => {
    chain = chain.then(() => (writer ? writer.flush() : undefined));
  }, 5000);
  let timer: NodeJS.Timeout | null = null;
  await Promise.race([
    new Promise<void>((resolve) => {
      timer = o.seconds ? setTimeout(resolve, o.seconds * 1000) : null;
      o.signal?.addEventListener('abort', () => resolve());
    }),
    ...(source instanceof CandumpSource ? [source.finished] : []), // a log ends by itself
  ]).finally(() => {
    if (timer) clearTimeout(timer);
    clearInterval(flushTimer);
  });
  await source.stop();
  await chain;
  await (writer as WfdbWriter | null)?.close();
  await new Promise((r) => arrivals.end(r));
  const s = source.stats;
  const result = {
    samples: s.samples,
    frames,
    gaps: s.gaps,
    lostSamples: s.lostSamples,
    crcErrors: s.crcErrors,
    malformed: s.malformed,
    reconnects: s.reconnects,
  };
  log(
    `captured ${result.samples} samples in ${frames} frames to ${o.out}; gaps ${result.gaps} (${result.lostSamples} samples lost), ` +
      `CRC errors ${result.crcErrors}, malformed ${result.malformed}, reconnects ${result.reconnects}`,
  );
  return result;
}
