#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/errors.js';
import { RecordError } from '../records/errors.js';
import { ModelError } from '../model/package/errors.js';
import { WeightError } from '../model/graph/weight-error.js';
import { intArg, intRangeArg, numberArg } from './args.js';
import { ExitCode } from './exit-codes.js';
import { isUnavailable } from '../errors.js';
import { addDataCommands } from './data-commands.js';
import { addEventsCommands } from './events-commands.js';
import { addHilCommands } from './hil-commands.js';
import { addModelCommands } from './model-commands.js';
import { devModule } from './dev-module.js';
import { VERSION } from '../version.js';
import { redactUrl } from '../redact.js';
import { DEMO_MODEL_DIR } from '../paths.js';

function channelArg(v: string): number | string {
  return /^\d+$/.test(v) ? Number(v) : v;
}

async function benchDspCommand(opts: { json?: boolean; seconds?: number }): Promise<void> {
  const log = opts.json ? undefined : (line: string) => process.stdout.write(`${line}\n`);
  const { runDspBench } = await import('../bench/dsp.js');
  const result = await runDspBench({ seconds: opts.seconds, log });
  if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
}

export function buildProgram(): Command {
  const program = new Command('ecg-emotiond')
    .description('In-car ECG emotion daemon: sensor → DSP → ECG-FM + NMoE → MQTT')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const recordOptions = (c: Command) =>
    c
      .option('--channel <n|name>', 'channel by index or label (default 0)', channelArg)
      .option('--from <s>', 'start at this many seconds', numberArg('--from'))
      .option('--to <s>', 'stop at this many seconds', numberArg('--to'))
      .option('--config <file>', 'YAML config (DSP and quality settings)')
      .option('--json', 'print JSON');

  recordOptions(
    program
      .command('analyze <record>')
      .description(
        'duration, beats, heart rate and window quality of a WFDB record (path without extension), .edf or .csv',
      )
      .option('--rate <hz>', 'sample rate of a .csv/.txt record', numberArg('--rate')),
  ).action(async (record, opts) => (await import('./record-actions.js')).analyzeCommand(record, opts));

  recordOptions(
    program
      .command('peaks <records...>')
      .description(
        "detected R peaks against WFDB records' reference beats, as EC57/bxb report them (records or folders)",
      )
      .option('--reference <annotator>', 'annotation file extension', 'atr')
      .option('--tolerance-ms <ms>', 'match window', numberArg('--tolerance-ms'), 150)
      .option('--keep-vf', 'keep ventricular flutter/fibrillation stretches in the comparison'),
  )
    .addHelpText(
      'after',
      '\n--from/--to limit the scored stretch (EC57 leaves out the first 300 s); the chain runs from 0.',
    )
    .action(async (records, opts) => (await import('./record-actions.js')).peaksCommand(records, opts));

  const bench = program.command('bench').description('benchmarks that print figures');
  bench
    .command('dsp')
    .description('throughput of the streaming chain in 20-sample frames, and heap over 24 h of ECG')
    .option('--json', 'print JSON')
    .option('--seconds <s>', 'measuring time per figure', numberArg('--seconds'))
    .action(benchDspCommand);
  bench
    .command('peaks')
    .description(
      'R peaks on the 25 shared MIT-BIH records as EC57 scores them, noise stress, HR/RMSSD and quality against the reference',
    )
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const { runPeaksBench } = await import('../bench/peaks.js');
      const r = await runPeaksBench({
        log: o.json ? undefined : (l: string) => process.stdout.write(`${l}\n`),
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  bench
    .command('replay')
    .description('HIL replay pacing at the receiving end: 500 Hz over a socat pty pair (rate error, jitter)')
    .option('--seconds <s>', 'length of the replay', numberArg('--seconds'), 60)
    .option('--json', 'print JSON')
    .action(async (o: { seconds: number; json?: boolean }) => {
      const { runReplayBench } = await import('../bench/replay.js');
      const r = await runReplayBench({
        seconds: o.seconds,
        log: o.json ? undefined : (l: string) => process.stdout.write(`${l}\n`),
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  bench
    .command('e2e')
    .description(
      'end to end at real time: replay over a pty → ecg-emotiond run → mosquitto → subscriber; latency, CPU, RSS',
    )
    .option('--seconds <s>', 'length of the real-time replay', numberArg('--seconds'), 60)
    .option('--json', 'print JSON')
    .action(async (o: { seconds: number; json?: boolean }) => {
      const { runE2eBench } = await import('../bench/e2e.js');
      const r = await runE2eBench({
        seconds: o.seconds,
        log: o.json ? undefined : (l: string) => process.stdout.write(`${l}\n`),
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  bench
    .command('soak')
    .description(
      'hours of real ECG through the pipeline as fast as it takes it: RSS growth, events lost, errors',
    )
    .option('--hours <h>', 'hours of ECG', numberArg('--hours'), 24)
    .option('--json', 'print JSON')
    .action(async (o: { hours: number; json?: boolean }) => {
      const { runSoakBench } = await import('../bench/soak.js');
      const r = await runSoakBench({ hours: o.hours, log: (l: string) => process.stderr.write(`${l}\n`) });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  bench
    .command('quantize')
    .description(
      'INT8 beyond its calibration data: quantized on drive06, top-1 agreement with fp32 on seven other recordings, and speed',
    )
    .option(
      '--model <dir>',
      'fp32 package to quantize (default: the demo size, seeded, head trained on drive06)',
    )
    .addOption(
      new Option('--size <size>', 'size of the package built without --model')
        .choices(['demo', 'full'])
        .default('demo'),
    )
    .option('--windows <n>', 'windows compared with fp32 per recording', intArg('--windows'), 400)
    .option('--json', 'print JSON')
    .action(async (o: { model?: string; size: 'demo' | 'full'; windows: number; json?: boolean }) => {
      const { runQuantizeBench } = await devModule('bench quantize', () => import('../bench/quantize.js'));
      const r = await runQuantizeBench({
        model: o.model,
        size: o.size,
        windows: o.windows,
        log: o.json ? undefined : (l: string) => process.stdout.write(`${l}\n`),
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  bench
    .command('fleet')
    .description(
      "N simulated vehicles (real publisher and outbox, the demo drive's rate, random link outages) into mosquitto, read on a shared subscription",
    )
    .option(
      '--vehicles <list>',
      'fleet sizes, comma-separated',
      (v) => v.split(',').map((x) => intRangeArg('--vehicles', 1, 100_000)(x)),
      [10, 100, 1000],
    )
    .option('--seconds <s>', 'driving time per fleet size', numberArg('--seconds'), 60)
    .option('--json', 'print JSON')
    .action(async (o: { vehicles: number[]; seconds: number; json?: boolean }) => {
      const { runFleetBench } = await import('../bench/fleet.js');
      const r = await runFleetBench({
        vehicles: o.vehicles,
        seconds: o.seconds,
        log: o.json ? undefined : (l: string) => process.stdout.write(`${l}\n`),
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    });
  bench
    .command('all')
    .description('every benchmark suite; writes bench/results.json and a Markdown table (bench/results.md)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const log = opts.json ? undefined : (line: string) => process.stdout.write(`${line}\n`);
      const { runDspBench } = await import('../bench/dsp.js');
      const { runModelBench } = await import('../bench/model.js');
      const { runReplayBench } = await import('../bench/replay.js');
      const { runE2eBench } = await import('../bench/e2e.js');
      const { writeResults } = await import('../bench/report.js');
      const dsp = await runDspBench({ log });
      log?.('');
      const model = await runModelBench({ model: DEMO_MODEL_DIR, log });
      log?.('');
      const replay = await runReplayBench({ log });
      log?.('');
      const e2e = await runE2eBench({ log });
      log?.('');
      const { runQuantizeBench } = await devModule('bench all', () => import('../bench/quantize.js'));
      const quantize = await runQuantizeBench({ log });
      const md = await writeResults({ dsp, model, replay, e2e, quantize });
      log?.(`\nwrote bench/results.json and bench/results.md:\n\n${md}`);
      if (opts.json) process.stdout.write(`${JSON.stringify({ dsp, model, replay, e2e, quantize })}\n`);
    });

  addModelCommands(program, bench);
  addHilCommands(program);
  addEventsCommands(program);
  addDataCommands(program);

  program
    .command('run')
    .description(
      'the daemon: source → DSP → model → decision → outbox/MQTT until SIGTERM (SIGHUP re-reads the config)',
    )
    .option('--config <file>', 'YAML config (defaults, then ECG_EMOTIOND__* environment overrides)')
    .action(async (o: { config?: string }) => (await import('../daemon/run.js')).runDaemon(o.config));

  program
    .command('doctor')
    .description('check config, device, broker, model, disk and clock: one line each, exit 1 on any failure')
    .option('--config <file>', 'YAML config')
    .option(
      '--unit <file>',
      'the systemd unit whose sandbox to check (default: the installed ecg-emotiond.service)',
    )
    .action(async (o: { config?: string; unit?: string }) => {
      const { doctor } = await import('../daemon/doctor.js');
      const checks = await doctor(o.config, { unitFile: o.unit });
      for (const c of checks)
        process.stdout.write(`${c.verdict.padEnd(4)} ${c.name.padEnd(17)} ${c.detail}\n`);
      process.exitCode = checks.some((c) => c.verdict === 'FAIL') ? ExitCode.Failed : ExitCode.Ok;
    });

  program
    .command('demo')
    .description(
      'the whole path on a bundled real recording (drivedb drive06, 10 min) with an embedded MQTT broker',
    )
    .option('--record <record>', 'another record')
    .option('--broker <url>', 'use this broker instead of the embedded one')
    .option('--speed <x>', 'playback speed, × real time', numberArg('--speed'), 40)
    .option('--to <s>', 'play only the first S seconds of the record', numberArg('--to'))
    .option('--config <file>', 'YAML config')
    .option('--out-dir <dir>', 'where the event log and the HTML report go', 'demo-output')
    .action(
      async (o: {
        record?: string;
        broker?: string;
        speed: number;
        to?: number;
        config?: string;
        outDir: string;
      }) => {
        await (await import('../daemon/demo.js')).runDemo({ ...o, toS: o.to });
      },
    );

  program
    .command('report')
    .description("a self-contained HTML report (inline SVG, no network) from a run's event log")
    .argument('<event-log>', 'the JSONL event log written by run (eventLog.path) or demo')
    .option('--out <file>', 'HTML file to write', 'report.html')
    .option('--labels <csv>', "the recording's segments CSV (default: the one beside the replayed record)")
    .option('--label-column <name>', 'label column of the segments CSV', 'stress')
    .option(
      '--strip-from <s>',
      'start of the ECG strip, stream seconds (default: the first good window)',
      numberArg('--strip-from'),
    )
    .option('--strip-seconds <s>', 'length of the ECG strip', numberArg('--strip-seconds'), 20)
    .action(
      async (
        file: string,
        o: { out: string; labels?: string; labelColumn: string; stripFrom?: number; stripSeconds: number },
      ) => {
        const { writeReport } = await import('../report/write-report.js');
        const r = await writeReport(file, { ...o, stripFromS: o.stripFrom });
        process.stdout.write(
          `report: ${r.out} (${r.windows} windows${r.labels ? `, labels from ${r.labels}` : ''})\n`,
        );
      },
    );

  program
    .command('config')
    .description('validate a config file and print the effective configuration (defaults and env applied)')
    .argument('[file]', 'YAML config')
    .action(async (file: string | undefined) => {
      const { loadConfig } = await import('../config/load.js');
      const config = await loadConfig(file);
      const shown = { ...config, mqtt: { ...config.mqtt, url: redactUrl(config.mqtt.url) } };
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    });
  return program;
}

/** User errors end in one line and a documented exit code; anything else is a bug and crashes loudly. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`ecg-emotiond: ${err.message}\n`);
      return ExitCode.Config;
    }
    if (err instanceof ModelError || err instanceof WeightError) {
      process.stderr.write(`ecg-emotiond: ${err.message}\n`);
      return ExitCode.Model;
    }
    if (err instanceof RecordError) {
      process.stderr.write(`ecg-emotiond: ${err.message}\n`);
      return ExitCode.Input;
    }
    if (isUnavailable(err)) {
      process.stderr.write(`ecg-emotiond: ${(err as Error).message.split('\n')[0]}\n`);
      return ExitCode.Unavailable;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then((code) => {
  // A command that ran may have set its own result code (e.g. events tail found invalid payloads).
  process.exitCode = code === ExitCode.Ok ? (process.exitCode ?? ExitCode.Ok) : code;
});
