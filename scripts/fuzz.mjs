#!/usr/bin/env node
// npm run fuzz [-- SECONDS]: the property tests (decoders, record readers, config, outbox recovery)
// with a random seed and a time budget per property instead of CI's fixed seed and run counts.
// Replay a failure with FUZZ_SEED=<the seed printed> npm run fuzz.
import { spawnSync } from 'node:child_process';

const seconds = Number(process.argv[2] ?? process.env.FUZZ_SECONDS ?? 60);
const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`fuzz: seed ${seed}, ${seconds} s per property\n`);
const r = spawnSync(
  'npx',
  ['tap', '--timeout', '0', '--reporter', 'tap', 'test/fuzz-inputs.test.ts', 'test/protocols.slow.test.ts'],
  { stdio: 'inherit', env: { ...process.env, FUZZ_SEED: String(seed), FUZZ_SECONDS: String(seconds) } },
);
process.exit(r.status ?? 1);
