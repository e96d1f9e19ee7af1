import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { PROJECT_ROOT, sharedDataDir } from '../src/paths.js';
import { buildRelease, releaseTestedAlready } from './fixtures/release.js';
import { qemuMissing, underQemu } from './fixtures/qemu.js';

// The Jetson's target, run: the linux-arm64 release as built for it, on an emulated Cortex-A76
// (Orin's cores are Cortex-A78AE; qemu models the A76 of the same family), Node called directly.
const CPU = 'cortex-a76';
const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

// Emulation is slow (inference about 90x): about 2 minutes alone, more beside other tests.
t.setTimeout(20 * 60_000);

interface Inspected {
  kernels: { arch: string; family: string; pairsSaturate: boolean; emulated: string | null };
  reference: { windows: number; maxAbsDiff: number; tolerance: number; probabilities: number[][] };
}

t.test(
  'the linux-arm64 release runs under qemu-user: version, model check against x64, analyze identical to x64, demo on a real broker',
  {
    skip:
      process.arch !== 'x64'
        ? 'runs the arm64 release from an x64 host'
        : releaseTestedAlready() || (qemuMissing('aarch64') ?? false),
  },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-arm64-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const build = await buildRelease(dir, 'arm64');
    t.equal(build.status, 0, build.stderr);
    const app = build.app;
    const arm = (...args: string[]) =>
      underQemu(
        'aarch64',
        CPU,
        [join(app, 'node', 'bin', 'node'), join(app, 'dist', 'cli', 'main.js'), ...args],
        {
          cwd: dir,
        },
      );
    const x64 = (...args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, maxBuffer: 64 * 2 ** 20 });

    const version = arm('--version');
    t.equal(version.status, 0, version.stderr);
    t.equal(version.stdout.trim(), build.version);

    // The shipped INT8 model on arm64's kernels: within its bound of fp32, and of what x64 gives.
    const model = join(app, 'models', 'driver-stress-drivedb');
    const inspect = arm('model', 'inspect', model, '--json');
    t.equal(inspect.status, 0, inspect.stderr);
    const onArm = JSON.parse(inspect.stdout) as Inspected;
    t.equal(onArm.kernels.arch, 'arm64');
    t.match(onArm.kernels.emulated, /^qemu-aarch64/);
    t.equal(onArm.kernels.pairsSaturate, false, 'arm64 dot products sum in int32');
    const onX64 = JSON.parse(x64('model', 'inspect', model, '--json').stdout) as Inspected;
    t.ok(
      onArm.reference.maxAbsDiff <= onArm.reference.tolerance,
      `arm64 vs fp32: ${onArm.reference.maxAbsDiff}`,
    );
    let apart = 0;
    onArm.reference.probabilities.forEach((p, i) =>
      p.forEach((v, c) => (apart = Math.max(apart, Math.abs(v - onX64.reference.probabilities[i][c])))),
    );
    t.ok(
      apart <= onArm.reference.tolerance,
      `arm64 vs x64 on ${onArm.reference.windows} windows: ${apart.toFixed(6)}`,
    );
    t.comment(
      `${onArm.kernels.family}: ${onArm.reference.maxAbsDiff.toFixed(5)} from fp32, ${apart.toFixed(6)} from x64`,
    );

    // The signal chain gives the same numbers on both (JSON compared as text).
    const record = join(sharedDataDir(), 'mitdb', '100');
    const a = arm('analyze', record, '--to', '120', '--json');
    t.equal(a.status, 0, a.stderr);
    const b = x64('analyze', record, '--to', '120', '--json');
    t.equal(a.stdout, b.stdout, 'analyze JSON identical to x64');

    // The demo against a real mosquitto: every message on its schema.
    const broker = await Mosquitto.create(dir);
    t.teardown(() => broker.stop());
    // A minute of the recording: the demo waits for the model, which runs ~90x slower emulated.
    const demo = arm('demo', '--broker', broker.url, '--to', '60', '--out-dir', join(dir, 'demo'));
    t.equal(demo.status, 0, demo.stderr);
    t.match(demo.stdout, /MQTT +[1-9]\d* messages on .*, 0 not matching their schema/);
    t.match(demo.stdout, /inference +[1-9]\d* windows, .*\(int8 on cpu\)/);
    t.match(demo.stdout, /events +new [1-9]/);

    // Its installer refuses this x64 machine in one line, before touching anything.
    const root = join(dir, 'root');
    const install = spawnSync('bash', [join(app, 'install.sh'), '--root', root], { encoding: 'utf8' });
    t.equal(install.status, 2);
    t.match(
      install.stderr,
      /^install\.sh: this release is for linux-arm64, this machine is linux-x64 \(x86_64\): .*\n$/,
    );
    t.notOk(spawnSync('test', ['-e', join(root, 'opt')]).status === 0, 'nothing installed');
  },
);
