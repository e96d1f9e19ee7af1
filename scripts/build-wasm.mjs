#!/usr/bin/env node
// Assembles src/dsp/wasm/*.wat into src/dsp/wasm/*.wasm.ts (the binary as base64), so the kernels
// load the same way from src (tests) and dist (the daemon). `--check` fails if a generated file is
// stale instead of writing it (the tests run this).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wabtInit from 'wabt';

const dir = new URL('../src/dsp/wasm/', import.meta.url).pathname;
const check = process.argv.includes('--check');
const wabt = await wabtInit();
let stale = 0;
for (const name of readdirSync(dir).filter((f) => f.endsWith('.wat'))) {
  const source = readFileSync(join(dir, name), 'utf8');
  const module = wabt.parseWat(name, source, { simd: true });
  module.validate();
  const bytes = Buffer.from(module.toBinary({}).buffer);
  module.destroy();
  const target = join(dir, `${name.replace(/\.wat$/, '')}.wasm.ts`);
  const text =
    `// Generated from ${name} by scripts/build-wasm.mjs: do not edit.\n` +
    `export const wasmBase64 =\n  '${bytes.toString('base64')}';\n`;
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current === text) continue;
  if (check) {
    console.error(`${target}: stale; run npm run build:wasm`);
    stale++;
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target} (${bytes.length} bytes)`);
  }
}
process.exit(stale ? 1 : 0);
