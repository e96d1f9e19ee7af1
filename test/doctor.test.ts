import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const doctor = (config: string) =>
  spawnSync(process.execPath, [BIN, 'doctor', '--config', config], { encoding: 'utf8' });

t.test('doctor: one line per check, exit 0 when device, broker, model and disk are fine', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-doctor-'));
  const broker = await Mosquitto.create(dir);
  t.teardown(() => broker.stop());
  const pty = await ptyPair(dir);
  t.teardown(() => pty.stop());
  const cfg = join(dir, 'ok.yaml');
  await writeFile(
    cfg,
    `source:\n  path: ${pty.b}\nmqtt:\n  url: ${broker.url}\noutbox:\n  dir: ${dir}/outbox\nmodel:\n  providers: [cpu]\n`,
  );
  const r = doctor(cfg);
  t.equal(r.status, 0, r.stdout);
  const lines = r.stdout.trim().split('\n');
  t.same(
    lines.map((l) => l.split(/\s+/)[1]),
    ['config', 'device', 'broker', 'model', 'evidence', 'outbox', 'systemd', 'clock'],
  );
  t.match(
    r.stdout,
    /^warn evidence +its backbone is seeded .* this model shows no evidence of recognising anything$/m,
    'the shipped model says plainly that it knows nothing',
  );
  t.match(
    r.stdout,
    /^ok {3}systemd notify +bin\/ecg-emotiond connects the daemon to systemd/m,
    'python3 is here',
  );
  t.match(r.stdout, /^ok {3}model +driver-stress-drivedb 0\.1\.0 \(int8\) sha256 verified, loads on cpu/m);
  t.match(r.stdout, /^ok {3}broker +mqtt:\/\/127\.0\.0\.1:\d+ reachable/m);
});

t.test(
  'doctor: a missing device and an unreachable broker each fail on their own line, exit 1',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-doctor-'));
    const cfg = join(dir, 'bad.yaml');
    await writeFile(
      cfg,
      `source:\n  path: /dev/no-such-sensor\nmqtt:\n  url: mqtt://127.0.0.1:1\noutbox:\n  dir: ${dir}/outbox\n` +
        `eventLog:\n  path: ${dir}/file/events.jsonl\n`,
    );
    await writeFile(join(dir, 'file'), ''); // the log's directory is a file: nothing can be written there
    const r = doctor(cfg);
    t.equal(r.status, 1);
    t.match(r.stdout, /^FAIL device +\/dev\/no-such-sensor does not exist/m);
    t.match(r.stdout, /^FAIL broker +mqtt:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/m);
    t.match(r.stdout, /^ok {3}model /m, 'the other checks still run');
    t.match(r.stdout, /^FAIL event log disk +\S+\/file is not a directory \(\S+\/file cannot be made\)$/m);
    await writeFile(cfg, 'source:\n  baudRate: fast\n');
    const bad = doctor(cfg);
    t.equal(bad.status, 1);
    t.match(bad.stdout, /^FAIL config .*source\.baudRate: must be integer/m);
  },
);
