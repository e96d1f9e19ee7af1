// `replay` and `record`: imported when one of them runs, so `--version` and `--help` stay fast.
import { UnavailableError } from '../errors.js';
import { capture } from '../hil/capture.js';
import { enterRealtime } from '../hil/realtime.js';
import { openCanReplayPort, openReplayPort, parseTarget, replayRecord } from '../hil/replay.js';
import type { SerialProtocol } from '../protocols/types.js';

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Aborts on SIGINT/SIGTERM so a capture or a looping replay ends cleanly. */
function signalAbort(): AbortController {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac;
}

export interface ReplayOpts {
  target: string;
  protocol: SerialProtocol;
  channel?: string;
  speed: number;
  from?: number;
  to?: number;
  loop?: boolean;
  frameSamples?: number;
  rtPriority?: number;
  json?: boolean;
}

export async function replayCommand(record: string, o: ReplayOpts): Promise<void> {
  const target = parseTarget(o.target);
  const port =
    target.kind === 'can'
      ? { ...(await openCanReplayPort(target.path)), incoming: undefined }
      : await openReplayPort(target);
  const ac = signalAbort();
  let scheduling = 'normal';
  if (o.rtPriority !== undefined) {
    const why = enterRealtime(o.rtPriority);
    if (why === null) scheduling = `SCHED_FIFO ${o.rtPriority}`;
    else say(`replay: no real-time priority (${why}); pacing at normal priority`);
  }
  try {
    const r = await replayRecord({
      record,
      channel: o.channel === undefined ? undefined : /^\d+$/.test(o.channel) ? Number(o.channel) : o.channel,
      protocol: target.kind === 'serial' ? o.protocol : 'slcan', // CAN frames travel as SLCAN lines internally
      speed: o.speed,
      fromS: o.from,
      toS: o.to,
      loop: o.loop,
      frameSamples: o.frameSamples,
      write: port.write,
      commands: port.incoming,
      signal: ac.signal,
      log: say,
    });
    if (o.json) process.stdout.write(`${JSON.stringify({ ...r, scheduling })}\n`);
  } finally {
    await port.close();
  }
}

export interface RecordOpts {
  source: string;
  protocol: SerialProtocol;
  out: string;
  rate?: number;
  seconds?: number;
  json?: boolean;
}

export async function recordCommand(o: RecordOpts): Promise<void> {
  const [, candump, candumpIface] = /^candump:(.+?)(?:@([\w.-]+))?$/.exec(o.source) ?? [];
  const target = candump ? null : parseTarget(o.source);
  const ac = signalAbort();
  const r = await capture({
    candumpFile: candump,
    candumpIface,
    path: target?.path ?? '',
    baudRate: target?.baudRate ?? 0,
    protocol: target?.kind === 'serial' ? o.protocol : 'slcan',
    canIface: target?.kind === 'can' ? target.path : undefined,
    out: o.out,
    rateHz: o.rate,
    seconds: o.seconds,
    signal: ac.signal,
    log: say,
  });
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  // Nothing captured is a failure, not a success with an empty record.
  if (r.samples === 0)
    throw new UnavailableError(`${o.source}: no samples received (see the source lines above)`);
}
