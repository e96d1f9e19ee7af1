import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { PROJECT_ROOT } from '../src/paths.js';

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const rel = join(prefix, name);
    return statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name), rel) : [rel];
  });
}

const arch = process.arch;

t.test(
  'npm run release builds a tarball for this machine; install.sh installs it into a scratch root; the installed doctor and demo run',
  { skip: arch === 'x64' || arch === 'arm64' ? false : `no release target for ${arch}` },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-release-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const build = spawnSync(
      process.execPath,
      [join(PROJECT_ROOT, 'scripts', 'release.mjs'), '--arch', arch, '--out', join(dir, 'out')],
      { encoding: 'utf8' },
    );
    t.equal(build.status, 0, build.stderr);
    const { version } = JSON.parse(await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8'));
    const tarball = join(dir, 'out', `ecg-emotiond-${version}-linux-${arch}.tar.gz`);
    t.ok(existsSync(tarball), 'the tarball is where the script says');
    t.comment(build.stdout.trim()); // its weight, for the README

    // npm pack (for a registry or an offline mirror) holds what the daemon needs to run, no source maps.
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    const packed = (JSON.parse(pack.stdout)[0].files as { path: string }[]).map((f) => f.path);
    for (const need of [
      'LICENSE',
      'schemas/mqtt/stats.schema.json',
      'bin/ecg-emotiond',
      'scripts/install.sh',
      'data/demo',
    ])
      t.ok(
        packed.some((p) => p.startsWith(need)),
        `npm pack holds ${need}`,
      );
    t.same(
      packed.filter((p) => p.endsWith('.map')),
      [],
      'and no source map',
    );

    // What is in the release.
    spawnSync('tar', ['-xzf', tarball, '-C', dir]);
    const app = join(dir, `ecg-emotiond-${version}`);
    const files = filesUnder(app);
    t.ok(files.includes('LICENSE') && files.includes('install.sh') && files.includes('RELEASE.json'));
    t.same(
      files.filter((f) => f.endsWith('.map')),
      [],
      'no source maps to sources that are not shipped',
    );
    const ort = readdirSync(join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6'));
    t.same(ort, ['linux'], "onnxruntime's binaries for Linux only");
    t.same(readdirSync(join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux')), [arch]);
    for (const dev of ['aedes', 'onnx-proto', 'typescript', 'tap', 'prettier'])
      t.notOk(existsSync(join(app, 'node_modules', dev)), `no ${dev} (a development package)`);
    const node = spawnSync(join(app, 'node', 'bin', 'node'), ['--version'], { encoding: 'utf8' });
    t.match(node.stdout, /^v22\./, 'Node 22 for the target, bundled');

    // install.sh into a scratch root, from the release (not from the checkout).
    const root = join(dir, 'root');
    const install = spawnSync('bash', [join(app, 'install.sh'), '--root', root], { encoding: 'utf8' });
    t.equal(install.status, 0, install.stderr);
    const installed = join(root, 'opt', 'ecg-emotiond');
    t.ok(existsSync(join(installed, 'bin', 'ecg-emotiond')));
    t.notOk(existsSync(join(installed, 'install.sh')));
    const unit = await readFile(join(root, 'etc', 'systemd', 'system', 'ecg-emotiond.service'), 'utf8');
    t.equal(unit, await readFile(join(PROJECT_ROOT, 'systemd', 'ecg-emotiond.service'), 'utf8'), 'the unit');
    t.equal(
      await readlink(
        join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants', 'ecg-emotiond.service'),
      ),
      '/etc/systemd/system/ecg-emotiond.service',
      'enabled',
    );
    t.ok(existsSync(join(root, 'etc', 'ecg-emotiond', 'config.yaml')), 'the example config');
    t.equal(statSync(join(root, 'etc', 'ecg-emotiond', 'mqtt-password')).mode & 0o777, 0o600);

    const bin = join(installed, 'bin', 'ecg-emotiond');
    const config = join(root, 'etc', 'ecg-emotiond', 'config.yaml');
    const doctor = () => spawnSync(bin, ['doctor', '--config', config], { encoding: 'utf8', cwd: dir });
    const bare = doctor();
    t.match(bare.stdout, /^ok {3}config /m, 'the example config is valid');
    t.match(bare.stdout, /^FAIL device /m, 'no sensor at its default path here: said, not hidden');
    t.equal(bare.status, 1, 'and doctor exits 1 for it');

    // Configured as a field engineer would: the sensor (a pty here) and the vehicle's broker.
    const broker = await Mosquitto.create(dir);
    t.teardown(() => broker.stop());
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    await writeFile(
      config,
      `source: { path: ${pty.b} }\nmqtt: { url: "${broker.url}" }\noutbox: { dir: ${join(dir, 'outbox')} }\n`,
    );
    const configured = doctor();
    t.equal(configured.status, 0, configured.stdout);
    t.match(configured.stdout, /^ok {3}device /m);
    t.match(configured.stdout, /^ok {3}broker /m);
    t.match(configured.stdout, /^ok {3}model +driver-stress-drivedb .* sha256 verified, loads on cpu/m);

    // Model tooling that needs development packages says so in a release; inspect works without.
    const model = join(installed, 'models', 'driver-stress-drivedb');
    const inspect = spawnSync(bin, ['model', 'inspect', model], { encoding: 'utf8', cwd: dir });
    t.equal(inspect.status, 0, inspect.stderr);
    t.match(inspect.stdout, /sha256 verified/);
    t.match(inspect.stdout, /op counts need the development package onnx-proto/);
    const modelBuild = spawnSync(bin, ['model', 'build', '--out', join(dir, 'm')], {
      encoding: 'utf8',
      cwd: dir,
    });
    t.equal(modelBuild.status, 6);
    t.match(modelBuild.stderr, /^ecg-emotiond: model build needs the development package onnx-proto, .*\n$/);

    const noBroker = spawnSync(bin, ['demo', '--out-dir', join(dir, 'demo0')], {
      encoding: 'utf8',
      cwd: dir,
    });
    t.equal(noBroker.status, 6);
    t.match(noBroker.stderr, /^ecg-emotiond: no embedded broker in this installation .*give --broker URL\n$/);
    const demo = spawnSync(bin, ['demo', '--broker', broker.url, '--out-dir', join(dir, 'demo')], {
      encoding: 'utf8',
      cwd: dir,
    });
    t.equal(demo.status, 0, demo.stderr);
    t.match(demo.stdout, /MQTT +\d+ messages on .*, 0 not matching their schema/);
    t.match(demo.stdout, /events +new [1-9]/);
    t.ok(existsSync(join(dir, 'demo', 'report.html')), 'the report');
  },
);
