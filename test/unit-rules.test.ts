import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { deviceVerdict, ipVerdict, readUnitRules } from '../src/daemon/unit-rules.js';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { PROJECT_ROOT } from '../src/paths.js';

const UNIT = join(PROJECT_ROOT, 'systemd', 'ecg-emotiond.service');
const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

t.test(
  "the unit admits the README's sensors by class, and loads the modules behind them first",
  async (t) => {
    const rules = readUnitRules(UNIT);
    for (const cls of ['ttyTHS', 'ttyUSB', 'ttyACM', 'rfcomm'])
      t.ok(rules.deviceAllow.includes(`char-${cls}`), cls);
    t.same(
      rules.deviceAllow.filter(
        (d) => d.startsWith('/dev/tty') || d === '/dev/ecg-sensor' || d.startsWith('/dev/rfcomm'),
      ),
      [],
      'no path rule for a sensor: a path is looked up once, at start',
    );
    const text = await readFile(UNIT, 'utf8');
    // ttyUSB, ttyACM and rfcomm come from modules: their majors exist only once those are loaded.
    for (const module of ['usbserial', 'cdc_acm', 'rfcomm']) {
      t.match(text, new RegExp(`^Wants=.*modprobe@${module}\\.service`, 'm'), `Wants modprobe@${module}`);
      t.match(text, new RegExp(`^After=.*modprobe@${module}\\.service`, 'm'), `After modprobe@${module}`);
    }
  },
);

t.test(
  "the unit's address rules: the vehicle's networks in, the rest out, a drop-in adds a broker",
  async (t) => {
    const rules = readUnitRules(UNIT);
    for (const a of [
      '127.0.0.1',
      '::1',
      '10.1.2.3',
      '172.20.0.9',
      '192.168.1.20',
      '100.64.3.4',
      '100.127.255.1',
      'fd12::7',
      '169.254.0.5',
      'fe80::1',
    ])
      t.ok(ipVerdict(rules, a).allowed, `${a} allowed by ${ipVerdict(rules, a).rule}`);
    for (const a of ['203.0.113.7', '8.8.8.8', '100.128.0.1', '2001:db8::7']) {
      t.same(ipVerdict(rules, a), { allowed: false, rule: 'IPAddressDeny=any' }, `${a} blocked`);
    }
    const dir = await mkdtemp(join(tmpdir(), 'ecg-unit-rules-'));
    await cp(UNIT, join(dir, 'ecg-emotiond.service'));
    await mkdir(join(dir, 'ecg-emotiond.service.d'));
    await writeFile(
      join(dir, 'ecg-emotiond.service.d', 'override.conf'),
      '[Service]\nIPAddressAllow=203.0.113.7/32\n',
    );
    const edited = readUnitRules(join(dir, 'ecg-emotiond.service'));
    t.equal(edited.files.length, 2);
    t.same(ipVerdict(edited, '203.0.113.7'), { allowed: true, rule: 'IPAddressAllow=203.0.113.7/32' });
    t.notOk(ipVerdict(edited, '203.0.113.8').allowed);
    // An empty assignment clears the list, as systemd reads it; a later file name wins.
    await writeFile(
      join(dir, 'ecg-emotiond.service.d', 'zz-lockdown.conf'),
      '[Service]\nIPAddressAllow=\nIPAddressAllow=localhost\n',
    );
    const locked = readUnitRules(join(dir, 'ecg-emotiond.service'));
    t.notOk(ipVerdict(locked, '10.1.2.3').allowed, 'the reset dropped the private ranges');
    t.ok(ipVerdict(locked, '127.0.0.1').allowed);
  },
);

t.test(
  'device rules: a class admits a node by its major, DevicePolicy=closed admits /dev/null, a pty is not a sensor class',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-unit-dev-'));
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const rules = readUnitRules(UNIT);
    const blocked = deviceVerdict(rules, pty.b);
    t.same(blocked, { allowed: false, group: 'pts', rule: null });
    t.same(deviceVerdict(rules, '/dev/null'), { allowed: true, group: 'mem', rule: 'DevicePolicy=closed' });
    t.same(deviceVerdict({ ...rules, deviceAllow: [...rules.deviceAllow, 'char-pt*'] }, pty.b), {
      allowed: true,
      group: 'pts',
      rule: 'DeviceAllow=char-pt*',
    });
    t.ok(
      deviceVerdict({ ...rules, deviceAllow: [], devicePolicy: 'auto' }, pty.b).allowed,
      'no device rules: all open',
    );
  },
);

t.test(
  'doctor names the rule to add when the installed unit would block the sensor or the broker',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-doctor-unit-'));
    const broker = await Mosquitto.create(dir);
    t.teardown(() => broker.stop());
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const doctor = async (url: string, unit: string) => {
      const cfg = join(dir, 'c.yaml');
      await writeFile(
        cfg,
        `source: { path: ${pty.b} }\nmqtt: { url: "${url}" }\noutbox: { dir: ${dir}/ob }\nmodel: { providers: [cpu] }\n`,
      );
      return spawnSync(process.execPath, [BIN, 'doctor', '--config', cfg, '--unit', unit], {
        encoding: 'utf8',
      });
    };
    const blocked = await doctor('mqtt://203.0.113.7:1883', UNIT);
    t.equal(blocked.status, 1);
    t.match(
      blocked.stdout,
      /^FAIL unit +\S+ecg-emotiond\.service blocks the sensor \S+ \(device class pts\): add DeviceAllow=char-pts rw .*; blocks the broker 203\.0\.113\.7 \(203\.0\.113\.7: IPAddressDeny=any\): add IPAddressAllow=203\.0\.113\.7\/32 /m,
    );
    // The same unit with the drop-in doctor asked for: admitted.
    const unitDir = join(dir, 'unit');
    await mkdir(join(unitDir, 'ecg-emotiond.service.d'), { recursive: true });
    await cp(UNIT, join(unitDir, 'ecg-emotiond.service'));
    await writeFile(
      join(unitDir, 'ecg-emotiond.service.d', 'bench.conf'),
      '[Service]\nDeviceAllow=char-pts rw\n',
    );
    const ok = await doctor(broker.url, join(unitDir, 'ecg-emotiond.service'));
    t.match(
      ok.stdout,
      /^ok {3}unit +\S+ admits \S+ \(DeviceAllow=char-pts\) and the broker 127\.0\.0\.1 \(127\.0\.0\.1\)$/m,
    );
  },
);
