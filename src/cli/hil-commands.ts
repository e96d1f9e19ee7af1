import { type Command, Option } from 'commander';
import { intRangeArg, nonNegativeArg, positiveArg } from './args.js';
import { capture } from '../hil/capture.js';
import { openCanReplayPort, openReplayPort, parseTarget, replayRecord } from '../hil/replay.js';
import { enterRealtime } from '../hil/realtime.js';
import { SERIAL_PROTOCOLS, type SerialProtocol } from '../protocols/types.js';
import { UnavailableError } from '../errors.js';

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Aborts on SIGINT/SIGTERM so a capture or a looping replay ends cleanly. */
function signalAbort(): AbortController {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac;
}

interface ReplayOpts {
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

async function replayCommand(record: string, o: ReplayOpts): Promise<void> {
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

interface RecordOpts {
  source: string;
  protocol: SerialProtocol;
  out: string;
  rate?: number;
  seconds?: number;
  json?: boolean;
}

async function recordCommand(o: RecordOpts): Promise<void> {
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

export function addHilCommands(program: Command): void {
  program
    .command('replay <record>')
    .description(
      'HIL: send a record as a sensor would, paced in real time (or --speed X), over serial or SLCAN',
    )
    .requiredOption('--target <device>', 'serial:<path>[@baud], slcan:<path>[@baud] or can:<iface>')
    .addOption(
      new Option('--protocol <name>', 'wire protocol').choices([...SERIAL_PROTOCOLS]).default('ecg-serial'),
    )
    .option('--channel <n|name>', 'channel of the record (default 0)')
    .option('--speed <x>', 'playback speed', positiveArg('--speed'), 1)
    .option('--from <s>', 'start at this second of the record', nonNegativeArg('--from'))
    .option('--to <s>', 'stop at this second of the record', positiveArg('--to'))
    .option('--loop', 'start over at the end until stopped')
    .option(
      '--frame-samples <n>',
      'samples per wire frame (ecg-serial, ascii)',
      positiveArg('--frame-samples'),
    )
    .option(
      '--rt-priority <1-99>',
      'pace on a real-time thread (SCHED_FIFO at this priority): needs root or CAP_SYS_NICE',
      intRangeArg('--rt-priority', 1, 99),
    )
    .option('--json', 'print the timing figures as JSON')
    .action(replayCommand);
  program
    .command('record')
    .description(
      'capture what a sensor sends into a WFDB record (+ arrival times) that replay and analyze read',
    )
    .requiredOption(
      '--source <device>',
      'serial:<path>[@baud], slcan:<path>[@baud], can:<iface>, or candump:<log file>[@<iface>] (read to its end)',
    )
    .addOption(
      new Option('--protocol <name>', 'wire protocol').choices([...SERIAL_PROTOCOLS]).default('ecg-serial'),
    )
    .requiredOption('--out <record>', 'record path without extension')
    .option('--rate <hz>', 'sample rate, for protocols that do not carry it (ascii)', positiveArg('--rate'))
    .option('--seconds <s>', 'stop after this long (default: until SIGINT/SIGTERM)', positiveArg('--seconds'))
    .option('--json', 'print the summary as JSON')
    .action(recordCommand);
}
