import { mkdtemp, writeFile } from 'node:fs/promises';
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
