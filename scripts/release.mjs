#!/usr/bin/env node
// npm run release [-- --arch arm64 --arch x64] [--no-node] [--out release]
//
// Builds one self-contained tarball per target, release/ecg-emotiond-<version>-linux-<arch>.tar.gz:
// the compiled daemon without source maps, its runtime dependencies for that target only (the
// onnxruntime and serialport binaries of linux-<arch>; no development packages), the model, the
// demo recording, schemas, the systemd unit, hw/ specs, LICENSE, install.sh, and (unless
// --no-node) the Node 22 binary for the target from the npm registry's node-linux-<arch> package.
// Everything comes from the npm registry; nothing is downloaded from elsewhere.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MAJOR = '22';
const ARCHES = ['x64', 'arm64'];

const { values } = parseArgs({
  options: {
    arch: { type: 'string', multiple: true },
    'no-node': { type: 'boolean', default: false },
    out: { type: 'string', default: 'release' },
  },
});
const arches = values.arch ?? ARCHES;
for (const a of arches) {
  if (!ARCHES.includes(a)) fail(`--arch ${a}: one of ${ARCHES.join(', ')}`);
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const out = resolve(ROOT, values.out);

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(2);
}

function run(cmd, args, cwd = ROOT) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Bytes under a path, as the files take them (not blocks). */
function bytesOf(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesOf(join(path, name)), 0);
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Deletes every entry of `dir` but `keep`. */
function keepOnly(dir, keep) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) if (!keep.includes(name)) rmSync(join(dir, name), { recursive: true });
}

/** Deletes the source maps under `dir`: they point at sources that are not shipped. */
function dropSourceMaps(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) dropSourceMaps(path);
    else if (entry.name.endsWith('.map')) rmSync(path);
  }
}

/** The Node binary for the target, from the npm registry's node-linux-<arch> package. */
function bundleNode(arch, app, scratch) {
  const spec = `node-linux-${arch}@${NODE_MAJOR}`;
  const packed = JSON.parse(run('npm', ['pack', spec, '--json', '--pack-destination', scratch]));
  run('tar', ['-xzf', join(scratch, packed[0].filename), '-C', scratch]);
  mkdirSync(join(app, 'node', 'bin'), { recursive: true });
  cpSync(join(scratch, 'package', 'bin', 'node'), join(app, 'node', 'bin', 'node'));
  cpSync(join(scratch, 'package', 'LICENSE'), join(app, 'node', 'LICENSE'));
  return packed[0].version;
}

function buildTarget(arch) {
  const name = `ecg-emotiond-${pkg.version}`;
  const stage = join(out, `stage-linux-${arch}`);
  const app = join(stage, name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });

  run(join(ROOT, 'node_modules', '.bin', 'tsc'), [
    '-p',
    'tsconfig.json',
    '--sourceMap',
    'false',
    '--outDir',
    join(app, 'dist'),
  ]);
  for (const path of [
    'package.json',
    'package-lock.json',
    '.npmrc',
    'LICENSE',
    'README.md',
    'bin',
    'models',
    'schemas',
    'systemd',
    'hw',
    'docs',
    'fleet',
  ])
    cpSync(join(ROOT, path), join(app, path), { recursive: true });
  cpSync(join(ROOT, 'data', 'demo'), join(app, 'data', 'demo'), { recursive: true });
  // What `data fetch` checks and copies (the recordings themselves are downloaded).
  cpSync(join(ROOT, 'data', 'labels'), join(app, 'data', 'labels'), { recursive: true });
  cpSync(join(ROOT, 'data', 'SHA256SUMS'), join(app, 'data', 'SHA256SUMS'));
  cpSync(join(ROOT, 'scripts', 'install.sh'), join(app, 'install.sh'));
  cpSync(join(ROOT, 'scripts', 'jetson'), join(app, 'scripts', 'jetson'), { recursive: true });

  // Runtime dependencies for the target, with no install scripts run (nothing is built or
  // downloaded here; socketcan, native and optional, is built on the Jetson: hw/can/README.md).
  run(
    'npm',
    ['ci', '--omit=dev', '--ignore-scripts', '--os=linux', `--cpu=${arch}`, '--no-audit', '--no-fund'],
    app,
  );
  const modules = join(app, 'node_modules');
  rmSync(join(modules, 'socketcan'), { recursive: true, force: true });
  dropSourceMaps(modules);
  const ort = join(modules, 'onnxruntime-node', 'bin', 'napi-v6');
  keepOnly(ort, ['linux']);
  keepOnly(join(ort, 'linux'), [arch]);
  keepOnly(join(modules, '@serialport', 'bindings-cpp', 'prebuilds'), [`linux-${arch}`]);
  if (!existsSync(join(ort, 'linux', arch, 'onnxruntime_binding.node')))
    fail(`onnxruntime-node has no linux-${arch} binary`);

  const scratch = join(stage, 'scratch');
  mkdirSync(scratch);
  const node = values['no-node'] ? null : bundleNode(arch, app, scratch);
  rmSync(scratch, { recursive: true });
  const commit = run('git', ['rev-parse', 'HEAD']).trim();
  writeFileSync(
    join(app, 'RELEASE.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, target: `linux-${arch}`, node, commit }, null, 2)}\n`,
  );

  const tarball = join(out, `${name}-linux-${arch}.tar.gz`);
  run('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-czf',
    tarball,
    '-C',
    stage,
    name,
  ]);
  const sha256 = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  const sizes = {
    tarball: statSync(tarball).size,
    unpacked: bytesOf(app),
    node: node ? bytesOf(join(app, 'node')) : 0,
    onnxruntime: bytesOf(join(modules, 'onnxruntime-node')),
    model: bytesOf(join(app, 'models')),
  };
  rmSync(stage, { recursive: true });
  process.stdout.write(
    `${tarball}\n  sha256 ${sha256}\n  ${mib(sizes.tarball)} packed, ${mib(sizes.unpacked)} unpacked: ` +
      `Node ${node ?? '(not bundled)'} ${mib(sizes.node)}, onnxruntime ${mib(sizes.onnxruntime)}, model ${mib(sizes.model)}\n`,
  );
}

mkdirSync(out, { recursive: true });
for (const arch of arches) buildTarget(arch);
