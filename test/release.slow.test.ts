import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { type BuiltRelease, buildRelease, releaseTestedAlready } from './fixtures/release.js';

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const rel = join(prefix, name);
    return statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name), rel) : [rel];
  });
}

const arch = process.arch;
const supported = arch === 'x64' || arch === 'arm64';

/** One release build for every test here (it takes half a minute). */
let built: Promise<{ dir: string; build: BuiltRelease }> | undefined;
const release = () =>
  (built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-release-'));
    return { dir, build: await buildRelease(dir, arch) };
  })());
t.teardown(async () => {
  if (built) await rm((await built).dir, { recursive: true, force: true });
});

t.test(
  'npm run release builds a tarball for this machine; install.sh installs it into a scratch root; the installed doctor and demo run',
  { skip: supported ? releaseTestedAlready() : `no release target for ${arch}` },
  async (t) => {
    const { dir, build } = await release();
    t.equal(build.status, 0, build.stderr);
    const { tarball, app } = build;
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
    t.match(
      await readlink(installed),
      /^ecg-emotiond-releases\/[^/]+-[0-9a-f]{7}-\d{8}T\d+Z$/,
      '/opt/ecg-emotiond points at a release folder of its own',
    );
    t.ok(existsSync(join(installed, 'install.sh')), 'install.sh stays, for --rollback');
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
    const benchQuantize = spawnSync(bin, ['bench', 'quantize'], { encoding: 'utf8', cwd: dir });
    t.equal(benchQuantize.status, 6);
    t.match(
      benchQuantize.stderr,
      /^ecg-emotiond: bench quantize needs the development package onnx-proto, .*\n$/,
    );

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

t.test(
  'install.sh: a release for another machine is refused, a failing check or start leaves the old install as it was, --rollback brings the previous one back',
  { skip: supported ? releaseTestedAlready() : `no release target for ${arch}` },
  async (t) => {
    const { dir, build } = await release();
    t.equal(build.status, 0, build.stderr);
    const work = await mkdtemp(join(dir, 'install-'));
    const root = join(work, 'root');
    // A stand-in for systemctl, udevadm and journalctl (no systemd runs here): it logs its calls,
    // and `restart` fails while /opt/ecg-emotiond points at a release marked "bad".
    const tools = join(work, 'bin');
    await mkdir(tools);
    const calls = join(work, 'calls.log');
    const standIn = `#!/bin/sh
echo "$(basename "$0") $*" >> "${calls}"
case "$*" in
  *restart*|*is-active*) grep -q '"bad": true' "$(readlink -f "${root}/opt/ecg-emotiond")/RELEASE.json" && exit 1 ;;
esac
exit 0
`;
    for (const tool of ['systemctl', 'udevadm', 'journalctl']) {
      await writeFile(join(tools, tool), standIn);
      await chmod(join(tools, tool), 0o755);
    }
    const env = { ...process.env, PATH: `${tools}:${process.env.PATH}` };
    const install = (from: string, ...args: string[]) =>
      spawnSync('bash', [join(from, 'install.sh'), '--root', root, ...args], { encoding: 'utf8', env });
    const current = async () => basename(await readlink(join(root, 'opt', 'ecg-emotiond')));
    const previous = async () =>
      basename(await readlink(join(root, 'opt', 'ecg-emotiond-releases', 'previous')));
    const runs = () =>
      spawnSync(join(root, 'opt', 'ecg-emotiond', 'bin', 'ecg-emotiond'), ['--version'], {
        encoding: 'utf8',
      });
    /** A copy of the release with its RELEASE.json edited (another version, target or a "bad" mark). */
    const variant = async (name: string, edit: (r: Record<string, unknown>) => void) => {
      const to = join(work, name);
      await cp(build.app, to, { recursive: true, verbatimSymlinks: true });
      const info = JSON.parse(await readFile(join(to, 'RELEASE.json'), 'utf8')) as Record<string, unknown>;
      edit(info);
      await writeFile(join(to, 'RELEASE.json'), `${JSON.stringify(info, null, 2)}\n`);
      return to;
    };

    // An install from before release folders: /opt/ecg-emotiond a plain folder. It becomes one.
    await cp(build.app, join(root, 'opt', 'ecg-emotiond'), { recursive: true, verbatimSymlinks: true });
    const first = install(build.app);
    t.equal(first.status, 0, first.stderr);
    const v1 = await current();
    t.equal(await previous(), `${build.version}-legacy`, 'the plain folder is kept as the previous release');
    await rm(join(root, 'opt', 'ecg-emotiond-releases', 'previous'));
    t.notOk(
      existsSync(join(root, 'opt', 'ecg-emotiond-releases', 'previous')),
      'a first install has no previous',
    );

    // Another architecture: one line, exit 2, nothing touched.
    const other = arch === 'x64' ? 'linux-arm64' : 'linux-x64';
    const foreign = install(await variant('foreign', (r) => (r.target = other)));
    t.equal(foreign.status, 2);
    t.match(
      foreign.stderr,
      new RegExp(`^install\\.sh: this release is for ${other}, this machine is linux-${arch} .*\\n$`),
    );
    t.equal(await current(), v1, 'still the first release');

    // A check that fails before the swap: its Node cannot run here.
    const broken = await variant('broken-node', () => {});
    await writeFile(join(broken, 'node', 'bin', 'node'), '\x7fELF truncated');
    const noNode = install(broken);
    t.equal(noNode.status, 1);
    t.match(
      noNode.stderr,
      /^install\.sh: the new release .* fails a check \(its Node runs here\): .*nothing was changed\n$/,
    );
    t.equal(await current(), v1);
    t.equal(runs().status, 0, 'the installed release still runs');

    // The config in use is one the new release refuses.
    const config = join(root, 'etc', 'ecg-emotiond', 'config.yaml');
    const goodConfig = await readFile(config, 'utf8');
    await writeFile(config, 'mqtt:\n  url: http://not-mqtt\n');
    const refused = install(await variant('v1b', () => {}));
    t.equal(refused.status, 1);
    t.match(refused.stderr, /fails a check \(config .*config\.yaml\): .*mqtt\.url.*nothing was changed\n$/);
    t.equal(await current(), v1);
    await writeFile(config, goodConfig);

    // An upgrade; then --rollback, from the installed release's own install.sh; then forward again.
    // The onnxruntime binding built on this machine (the Jetson's TensorRT build) goes along.
    const ortBin = join('node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', arch);
    const ortVersion = (
      JSON.parse(await readFile(join(build.app, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      }
    ).dependencies['onnxruntime-node'];
    await writeFile(join(root, 'opt', 'ecg-emotiond', ortBin, 'BUILT-HERE'), `${ortVersion}\n`);
    await writeFile(
      join(root, 'opt', 'ecg-emotiond', ortBin, 'libonnxruntime_providers_tensorrt.so'),
      'built here',
    );
    const upgrade = install(await variant('v2', (r) => (r.version = '0.1.1-test')), '--restart');
    t.equal(upgrade.status, 0, upgrade.stderr);
    t.match(upgrade.stdout, /kept this machine's own onnxruntime build/);
    t.equal(
      await readFile(
        join(root, 'opt', 'ecg-emotiond', ortBin, 'libonnxruntime_providers_tensorrt.so'),
        'utf8',
      ),
      'built here',
      'the local build is in the new release',
    );
    const v2 = await current();
    t.match(v2, /^0\.1\.1-test-/);
    t.equal(await previous(), v1, 'the release before is kept');
    t.match(
      await readFile(calls, 'utf8'),
      /systemctl restart ecg-emotiond\.service/,
      'the service restarted',
    );
    const back = spawnSync(
      'bash',
      [join(root, 'opt', 'ecg-emotiond', 'install.sh'), '--root', root, '--rollback'],
      {
        encoding: 'utf8',
        env,
      },
    );
    t.equal(back.status, 0, back.stderr);
    t.match(back.stdout, /^rolled back to 0\.1\.0-/);
    t.equal(await current(), v1, 'the first release is current again');
    t.equal(await previous(), v2, 'and --rollback again would return to the upgrade');
    t.equal(runs().status, 0);
    const forward = install(join(root, 'opt', 'ecg-emotiond-releases', v2), '--rollback');
    t.equal(forward.status, 0, forward.stderr);
    t.equal(await current(), v2);

    // A release that passes its checks but does not start: undone, the old one restarted.
    await writeFile(calls, '');
    const bad = install(
      await variant('v3-bad', (r) => ((r.version = '0.1.2-test'), (r.bad = true))),
      '--restart',
    );
    t.equal(bad.status, 1);
    t.match(bad.stderr, /did not start; putting .* back/);
    t.match(bad.stderr, /^install\.sh: the upgrade to 0\.1\.2-test failed and was undone$/m);
    t.equal(await current(), v2, 'the running release is current again');
    t.equal(await previous(), v1, 'and its previous is what it was');
    t.equal(
      (await readFile(calls, 'utf8')).match(/systemctl restart/g)?.length,
      2,
      'new, then old restarted',
    );
    t.same(
      (await readdir(join(root, 'opt', 'ecg-emotiond-releases'))).filter((n) => n.startsWith('0.1.2-test')),
      [],
      'the failed release is gone',
    );
    t.equal(runs().status, 0);
  },
);
