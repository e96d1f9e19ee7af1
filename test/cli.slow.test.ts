import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { rec } from './fixtures/helpers.js';

// The built command, as users run it (npm test builds first).
const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

t.test('analyze --json on a WFDB record', async (t) => {
  const r = cli('analyze', rec('mitdb', '100'), '--from', '0', '--to', '300', '--json');
  t.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  t.equal(s.sampleRateHz, 360);
  t.ok(Math.abs(s.durationS - 300) < 0.01);
  t.ok(s.beats > 350 && s.beats < 390, `${s.beats} beats in 5 min`);
  t.ok(s.heartRateBpm.mean > 65 && s.heartRateBpm.mean < 85);
  t.equal(s.windows.good + s.windows.acceptable + s.windows.unusable, s.windows.total);
});

t.test('analyze an EDF channel by name, and a CSV with a rate', async (t) => {
  const r = cli('analyze', rec('eegmat', 'Subject00_1.edf'), '--channel', 'ECG ECG', '--json');
  t.equal(r.status, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).channel, 'ECG ECG');
  const dir = await mkdtemp(join(tmpdir(), 'ecg-cli-'));
  const csv = join(dir, 'x.csv');
  // 20 s of a spiky 1.2 Hz wave, one value per line
  await writeFile(
    csv,
    Array.from({ length: 5000 }, (_, i) => (i % 208 < 8 ? 1.5 : 0) + 0.01 * Math.sin(i)).join('\n'),
  );
  const c = cli('analyze', csv, '--rate', '250', '--json');
  t.equal(c.status, 0, c.stderr);
  t.equal(JSON.parse(c.stdout).durationS, 20);
});

t.test('peaks --json against the reference annotator', async (t) => {
  const r = cli('peaks', rec('mitdb', '119'), '--reference', 'atr', '--to', '600', '--json');
  t.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  t.equal(s.records.length, 1);
  for (const k of ['tp', 'fp', 'fn', 'sensitivity', 'ppv']) t.type(s.gross[k], 'number', k);
  t.ok(s.gross.sensitivity > 0.99 && s.gross.ppv > 0.99);
  t.ok(s.gross.byClass.V.tp > 100, 'ventricular beats scored as their own class');
  t.ok(s.maxDecisionDelayS > 0 && s.maxDecisionDelayS <= 0.5);
});

t.test(
  'peaks over several records prints the EC57 table; --from leaves out the learning period',
  async (t) => {
    const r = cli('peaks', rec('mitdb', '100'), rec('mitdb', '119.hea'), '--to', '400');
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /^record +TP +FN +FP +Se % +\+P % +Se N +Se S +Se V +Se F +Se Q +VF s$/m);
    t.match(r.stdout, /^100 +\d+/m);
    t.match(r.stdout, /^119 +\d+/m);
    t.match(r.stdout, /^gross +\d+/m);
    t.match(r.stdout, /^average +/m);
    const whole = JSON.parse(cli('peaks', rec('mitdb', '100'), '--to', '400', '--json').stdout);
    const late = JSON.parse(
      cli('peaks', rec('mitdb', '100'), '--to', '400', '--from', '300', '--json').stdout,
    );
    const beats = (s: { gross: { tp: number; fn: number } }) => s.gross.tp + s.gross.fn;
    t.ok(
      beats(late) > 100 && beats(late) < beats(whole) / 3,
      `${beats(late)} of ${beats(whole)} beats scored`,
    );
  },
);

t.test('user errors: one line, documented exit code, no stack trace', async (t) => {
  const missing = cli('analyze', '/nonexistent/rec');
  t.equal(missing.status, 4);
  t.match(missing.stderr, /^ecg-emotiond: \/nonexistent\/rec: no such record/);
  t.equal(missing.stderr.trim().split('\n').length, 1);
  const dir = await mkdtemp(join(tmpdir(), 'ecg-cli-'));
  await writeFile(join(dir, 'bad.yaml'), 'dsp: {notchHz: 55, lowpassHz: -1}\n');
  const bad = cli('analyze', rec('mitdb', '100'), '--config', join(dir, 'bad.yaml'));
  t.equal(bad.status, 3);
  t.match(bad.stderr, /dsp\.lowpassHz: must be >= 20; dsp\.notchHz: must be one of/);
  t.notMatch(bad.stderr, /at .*\.js:\d+/);
  const usage = cli('peaks');
  t.equal(usage.status, 2);
  t.match(usage.stderr, /records/);
  const noRef = cli('peaks', rec('mitdb', '100'), '--reference', 'nope');
  t.equal(noRef.status, 4);
  t.match(noRef.stderr, /^ecg-emotiond: .*100\.nope: cannot read annotations/);
});

t.test(
  'bench dsp --json gives the figures the issue names (their values are the benchmark, not a test)',
  async (t) => {
    const r = cli('bench', 'dsp', '--json', '--seconds', '0.02');
    t.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    t.equal(s.frameSamples, 20);
    t.ok(s.cascadeSamplesPerSecond > 0 && s.chainSamplesPerSecond > 0);
    t.equal(s.chainInputRateHz, 496);
    t.same(Object.keys(s.chainByInputRateHz).sort(), ['360', '496', '500']);
    t.equal(typeof s.heapGrowth1hTo24hBytes, 'number');
  },
);

t.test('what the environment lacks is one line and exit 6 or 3, never a stack trace or a hang', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-cli-env-'));
  const oneLine = (r: ReturnType<typeof cli>, code: number, pattern: RegExp, what: string) => {
    t.equal(r.status, code, `${what}: exit ${code}`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line (${r.stderr.trim()})`);
    t.match(r.stderr, pattern, what);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  };
  // A free port with nobody behind it.
  const closed = 'mqtt://127.0.0.1:9';
  oneLine(
    cli('events', 'tail', '--broker', closed),
    6,
    /127\.0\.0\.1:9: connect ECONNREFUSED/,
    'events tail, broker down',
  );
  oneLine(
    cli('demo', '--broker', closed, '--out-dir', join(dir, 'demo')),
    6,
    /cannot connect/,
    'demo, broker down',
  );
  oneLine(
    cli('record', '--source', 'serial:/dev/null', '--out', join(dir, 'missing', 'x'), '--seconds', '1'),
    6,
    /ENOENT.*missing\/x\.arrivals\.csv/,
    'record into a missing folder',
  );
  oneLine(
    cli('record', '--source', 'candump:/nonexistent/vehicle.log', '--out', join(dir, 'x')),
    4,
    /\/nonexistent\/vehicle\.log: cannot read the candump log \(ENOENT\)/,
    'record from a missing candump log',
  );
  const config = join(dir, 'c.yaml');
  await writeFile(
    config,
    `outbox:\n  dir: ${join(dir, 'outbox')}\nmqtt:\n  passwordFile: ${join(dir, 'no-password')}\n`,
  );
  oneLine(
    cli('run', '--config', config),
    3,
    /mqtt\.passwordFile: \S+ is not readable \(ENOENT\)/,
    'run, password file missing',
  );
  oneLine(
    cli('demo', '--record', join(dir, 'no-such-record'), '--out-dir', join(dir, 'demo2')),
    4,
    /no-such-record: no such record/,
    'demo of a missing record',
  );
  // The health port already taken: refused in one line naming the key, after the model loaded.
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  const health = join(dir, 'health.yaml');
  await writeFile(
    health,
    `outbox:\n  dir: ${join(dir, 'outbox2')}\nmqtt:\n  url: mqtt://127.0.0.1:9\nhealth:\n  enabled: true\n  port: ${port}\nmodel:\n  providers: [cpu]\n`,
  );
  const inUse = spawnSync(process.execPath, [BIN, 'run', '--config', health], { encoding: 'utf8' });
  taken.close();
  t.equal(inUse.status, 3, 'health port in use: exit 3');
  t.match(inUse.stderr, new RegExp(`health\\.port: 127\\.0\\.0\\.1:${port} is not usable \\(EADDRINUSE\\)`));
  t.notMatch(inUse.stderr, /\n\s+at /, 'no stack trace');
  const env = spawnSync(process.execPath, [BIN, 'config'], {
    encoding: 'utf8',
    env: { ...process.env, ECG_EMOTIOND__VEHICLE_ID: '[' },
  });
  oneLine(env, 3, /\$ECG_EMOTIOND__VEHICLE_ID: YAML syntax error/, 'a malformed environment override');
});

t.test('0.1.0 spellings of the HIL flags still work for one release, each with a warning', async (t) => {
  const r = cli('replay', rec('mitdb', '100'), '--to', 'serial:/dev/no-such-tty', '--to-seconds', '1');
  t.equal(r.status, 6, 'the old --to still names the device (missing here)');
  t.match(r.stderr, /replay --to <device> is deprecated and goes in 0\.2: use --target/);
  t.match(r.stderr, /replay --to-seconds is deprecated and goes in 0\.2: use --to/);
  t.match(r.stderr, /\/dev\/no-such-tty/);
  const rec1 = cli('record', '--from', 'candump:/nonexistent/log', '--out', '/tmp/x');
  t.equal(rec1.status, 4);
  t.match(rec1.stderr, /record --from <device> is deprecated and goes in 0\.2: use --source/);
  const none = cli('replay', rec('mitdb', '100'));
  t.equal(none.status, 2);
  t.match(none.stderr, /required option '--target <device>' not specified/);
});
