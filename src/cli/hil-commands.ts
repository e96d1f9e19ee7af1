import { type Command, Option } from 'commander';
import { SERIAL_PROTOCOLS } from '../protocols/types.js';
import { intRangeArg, nonNegativeArg, positiveArg } from './args.js';
import type { RecordOpts, ReplayOpts } from './hil-actions.js';

/** replay's flags as given, the deprecated spellings included. */
type ReplayFlags = Omit<ReplayOpts, 'target' | 'to'> & {
  target?: string;
  to?: number | { device: string };
  toSeconds?: number;
};

function deprecated(old: string, now: string): void {
  process.stderr.write(`ecg-emotiond: ${old} is deprecated and goes in 0.2: use ${now}\n`);
}

/** replay --to: seconds; a device there is 0.1.0's spelling of --target. */
function secondsOrOldTarget(v: string): number | { device: string } {
  if (/^(serial|slcan|can):/.test(v)) return { device: v };
  return positiveArg('--to')(v);
}

export function addHilCommands(program: Command): void {
  program
    .command('replay <record>')
    .description(
      'HIL: send a record as a sensor would, paced in real time (or --speed X), over serial or SLCAN',
    )
    .option('--target <device>', 'serial:<path>[@baud], slcan:<path>[@baud] or can:<iface> (required)')
    .addOption(
      new Option('--protocol <name>', 'wire protocol').choices([...SERIAL_PROTOCOLS]).default('ecg-serial'),
    )
    .option('--channel <n|name>', 'channel of the record (default 0)')
    .option('--speed <x>', 'playback speed', positiveArg('--speed'), 1)
    .option('--from <s>', 'start at this second of the record', nonNegativeArg('--from'))
    .option('--to <s>', 'stop at this second of the record', secondsOrOldTarget)
    .addOption(new Option('--to-seconds <s>').argParser(positiveArg('--to-seconds')).hideHelp())
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
    .action(async (record: string, o: ReplayFlags, cmd: Command) => {
      // 0.1.0 named the device --to and the end --to-seconds: accepted, with a warning, until 0.2.
      let { target, to } = o;
      if (typeof to === 'object') {
        deprecated('replay --to <device>', '--target');
        target ??= to.device;
        to = undefined;
      }
      if (o.toSeconds !== undefined) {
        deprecated('replay --to-seconds', '--to');
        to ??= o.toSeconds;
      }
      if (!target) cmd.error("error: required option '--target <device>' not specified");
      await (await import('./hil-actions.js')).replayCommand(record, { ...o, target, to });
    });
  program
    .command('record')
    .description(
      'capture what a sensor sends into a WFDB record (+ arrival times) that replay and analyze read',
    )
    .option(
      '--source <device>',
      'serial:<path>[@baud], slcan:<path>[@baud], can:<iface>, or candump:<log file>[@<iface>] (read to its end; required)',
    )
    .addOption(new Option('--from <device>').hideHelp())
    .addOption(
      new Option('--protocol <name>', 'wire protocol').choices([...SERIAL_PROTOCOLS]).default('ecg-serial'),
    )
    .requiredOption('--out <record>', 'record path without extension')
    .option('--rate <hz>', 'sample rate, for protocols that do not carry it (ascii)', positiveArg('--rate'))
    .option('--seconds <s>', 'stop after this long (default: until SIGINT/SIGTERM)', positiveArg('--seconds'))
    .option('--json', 'print the summary as JSON')
    .action(async (o: RecordOpts & { from?: string }, cmd: Command) => {
      if (o.from !== undefined) deprecated('record --from <device>', '--source');
      const source = o.source ?? o.from;
      if (!source) cmd.error("error: required option '--source <device>' not specified");
      await (await import('./hil-actions.js')).recordCommand({ ...o, source });
    });
}
