#!/usr/bin/env node
// `npm test` and `npm run test:fast`: the data check, tap, then its wall time and a check that the
// run left the daemon's default state paths on this host as they were (tests use their own
// temporary folders; a test that forgot would write to /var/lib/ecg-emotiond). Arguments go to tap.
// (Not named test.mjs: tap takes any file of that name for a test file and would run itself.)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../dist/config/schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const props = configSchema.properties;
// The folders the daemon writes to when a config does not say otherwise.
const statePaths = [
  dirname(props.outbox.properties.dir.default),
  dirname(props.model.properties.tensorrt.properties.engineCacheDir.default),
];

/** Every file and folder under `p` with its size and mtime; [] when `p` does not exist. */
function snapshot(p) {
  let st;
  try {
    st = statSync(p);
  } catch {
    return [];
  }
  const here = `${p} ${st.size} ${st.mtimeMs}`;
  if (!st.isDirectory()) return [here];
  return [here, ...readdirSync(p).flatMap((name) => snapshot(join(p, name)))];
}

const run = (args) => spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

if (run(['dist/cli/main.js', 'data', 'check']) !== 0) process.exit(1);
const before = statePaths.map(snapshot);
const t0 = Date.now();
const tap = join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs');
const status = run([tap, ...process.argv.slice(2)]);
const s = Math.round((Date.now() - t0) / 1000);
const touched = statePaths.filter((p, i) => snapshot(p).join('\n') !== before[i].join('\n'));
process.stdout.write(`tests: ${Math.floor(s / 60)} min ${s % 60} s wall time, tap exit ${status}\n`);
if (touched.length) {
  process.stderr.write(`tests: the run wrote to the daemon's default state path ${touched.join(', ')}\n`);
  process.exit(1);
}
process.exit(status);
