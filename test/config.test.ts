import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, defaultConfig, loadConfig } from '../src/config/load.js';

const write = async (text: string) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-cfg-'));
  const file = join(dir, 'c.yaml');
  await writeFile(file, text);
  return file;
};

t.test('defaults', async (t) => {
  const c = defaultConfig();
  t.match(c, {
    vehicleId: 'vehicle',
    dsp: { highpassHz: 0.5, lowpassHz: 40, notchHz: 50, frameSamples: 20 },
    log: { level: 'info' },
  });
});

t.test('every invalid key is reported at once, with its path and reason', async (t) => {
  const file = await write(
    'dsp:\n  notchHz: 55\n  lowpassHz: fast\n  extra: 1\nlog:\n  level: loud\nbogus: true\n',
  );
  const err = await loadConfig(file, {}).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  const e = err as ConfigError;
  t.equal(e.problems.length, 5, e.message);
  t.match(e.message, /dsp\.notchHz: must be one of 50, 60, null/);
  t.match(e.message, /dsp\.lowpassHz: must be number/);
  t.match(e.message, /dsp\.extra: unknown key/);
  t.match(e.message, /log\.level: must be one of/);
  t.match(e.message, /bogus: unknown key/);
  t.notMatch(e.message, /\n/, 'one line');
});

t.test('YAML syntax errors name the line; unreadable files name the file', async (t) => {
  const file = await write('dsp:\n  notchHz: [50\n');
  await t.rejects(loadConfig(file, {}), { message: /YAML syntax error at line \d+/ });
  await t.rejects(loadConfig('/nonexistent/x.yaml', {}), {
    message: /\/nonexistent\/x\.yaml: cannot read file \(ENOENT\)/,
  });
});

t.test('environment overrides beat the file and are validated too', async (t) => {
  const file = await write('vehicleId: car-1\ndsp:\n  notchHz: 50\n');
  const c = await loadConfig(file, {
    ECG_EMOTIOND__DSP__NOTCH_HZ: '60',
    ECG_EMOTIOND__DSP__MAX_DECISION_DELAY_S: '0.4',
    ECG_EMOTIOND__LOG__LEVEL: 'debug',
  });
  t.equal(c.vehicleId, 'car-1');
  t.equal(c.dsp.notchHz, 60);
  t.equal(c.dsp.maxDecisionDelayS, 0.4);
  t.equal(c.log.level, 'debug');
  const none = await loadConfig(file, { ECG_EMOTIOND__DSP__NOTCH_HZ: 'null' });
  t.equal(none.dsp.notchHz, null);
  await t.rejects(loadConfig(file, { ECG_EMOTIOND__DSP__NOTCH_HZ: '55' }), { message: /dsp\.notchHz/ });
});

t.test('cross-field check', async (t) => {
  const file = await write('quality:\n  minHrBpm: 100\n  maxHrBpm: 100\n');
  await t.rejects(loadConfig(file, {}), { message: /minHrBpm: must be below quality\.maxHrBpm/ });
});

t.test('the shipped example config is valid and equals the defaults', async (t) => {
  const { PROJECT_ROOT } = await import('../src/paths.js');
  const c = await loadConfig(join(PROJECT_ROOT, 'systemd', 'ecg-emotiond.example.yaml'), {});
  t.same(c, defaultConfig());
});

t.test('the fleet direct-shape config is valid as shipped', async (t) => {
  const { PROJECT_ROOT } = await import('../src/paths.js');
  const c = await loadConfig(join(PROJECT_ROOT, 'fleet', 'ecg-emotiond-direct.yaml'), {});
  t.match(c.mqtt, { url: 'mqtts://fleet.example.com:8883', keepaliveS: 30, sessionExpiryS: 86400 });
});

t.test('hostile or careless values are one ConfigError each, never a stack trace', async (t) => {
  const problem = async (file: string | undefined, env: NodeJS.ProcessEnv = {}) => {
    const err = await loadConfig(file, env).catch((e: unknown) => e);
    t.ok(err instanceof ConfigError, String(err));
    return (err as ConfigError).message;
  };
  // Malformed environment overrides name the variable.
  for (const v of ['[', '{', '"', 'a: [', '*x'])
    t.match(await problem(undefined, { ECG_EMOTIOND__VEHICLE_ID: v }), /\$ECG_EMOTIOND__VEHICLE_ID: YAML/);
  // An alias bomb is refused before it expands.
  const level = (name: string, prev: string) => `${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`;
  const bomb = [
    'a: &a [x,x,x,x,x,x,x,x,x]',
    level('b', 'a'),
    level('c', 'b'),
    level('d', 'c'),
    level('e', 'd'),
  ];
  t.match(await problem(await write(`${bomb.join('\n')}\n`)), /resource exhaustion/);
  // Numbers the code cannot honour.
  for (const [yaml, key] of [
    ['mqtt:\n  statsIntervalS: 3000000\n', 'mqtt.statsIntervalS'],
    ['source:\n  sampleRateHz: 1000000000\n', 'source.sampleRateHz'],
    ['source:\n  sampleRateHz: 0\n', 'source.sampleRateHz'],
    ['mqtt:\n  messageExpiryS: 1e308\n', 'mqtt.messageExpiryS'],
    ['source:\n  gain: .inf\n', 'source.gain'],
    ['source:\n  baseline: -.inf\n', 'source.baseline'],
  ])
    t.match(await problem(await write(yaml)), new RegExp(key.replace('.', '\\.')), key);
});

t.test('a password in mqtt.url is never shown: config, doctor and the logs print it as ***', async (t) => {
  const { redactUrl } = await import('../src/redact.js');
  t.equal(redactUrl('mqtts://car:s3cret@broker.local:8883'), 'mqtts://car:***@broker.local:8883');
  t.equal(redactUrl('mqtt://broker:1883'), 'mqtt://broker:1883', 'nothing to hide');
  t.equal(redactUrl('weird://u:s3cret@'), 'weird://u:***@');
  const { spawnSync } = await import('node:child_process');
  const { PROJECT_ROOT } = await import('../src/paths.js');
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', 'cli', 'main.js'), 'config'], {
    encoding: 'utf8',
    env: { ...process.env, ECG_EMOTIOND__MQTT__URL: 'mqtt://car:s3cret@broker:1883' },
  });
  t.equal(r.status, 0, r.stderr);
  t.notMatch(r.stdout, /s3cret/);
  t.match(r.stdout, /"url": "mqtt:\/\/car:\*\*\*@broker:1883"/);
});

t.test(
  'what YAML only warns about (an unknown directive or tag) is refused in one line, not printed as a warning',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-cfg-warn-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'c.yaml');
    await writeFile(file, '%FOO bar\n---\nlog: { level: debug }\n');
    await t.rejects(loadConfig(file), /YAML syntax error at line 1, column 1: Unknown directive %FOO/);
    await writeFile(file, 'log: !secret { level: debug }\n');
    await t.rejects(loadConfig(file), /YAML syntax error at line 1, column \d+: Unresolved tag: !secret/);
  },
);
