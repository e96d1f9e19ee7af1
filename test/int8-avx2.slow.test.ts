import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { DEMO_MODEL_DIR, PROJECT_ROOT } from '../src/paths.js';
import { qemuMissing, underQemu } from './fixtures/qemu.js';

// x86-64 without VNNI, where onnxruntime's u8s8 GEMM sums pairs of products in a saturating int16
// (vpmaddubsw): a Haswell emulated by qemu-user runs the same onnxruntime binary on its AVX2 path.
const CPU = 'Haswell-v4';
const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

interface Inspected {
  kernels: { family: string; pairsSaturate: boolean; emulated: string | null };
  reference: {
    windows: number;
    maxAbsDiff: number;
    tolerance: number;
    flips: number;
    probabilities: number[][];
  };
}

t.test(
  'on an AVX2-only x86-64 the u8s8 kernel saturates, and the shipped INT8 model still gives what it gives elsewhere',
  { skip: process.arch !== 'x64' ? 'x86-64 only' : (qemuMissing('x86_64') ?? false) },
  async (t) => {
    const inspect = (emulated: boolean) => {
      const args = [process.execPath, BIN, 'model', 'inspect', DEMO_MODEL_DIR, '--json'];
      const r = emulated
        ? underQemu('x86_64', CPU, args)
        : spawnSync(args[0], args.slice(1), { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
      t.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Inspected;
    };
    const avx2 = inspect(true);
    t.equal(avx2.kernels.pairsSaturate, true, 'the probe sees the saturating pair sums');
    t.equal(avx2.kernels.emulated, `qemu-x86_64 -cpu ${CPU}`);
    t.ok(avx2.reference.maxAbsDiff <= avx2.reference.tolerance, `AVX2 vs fp32: ${avx2.reference.maxAbsDiff}`);
    t.equal(avx2.reference.flips, 0, 'the same class as fp32 on every reference window');
    // Pair-safe weights leave the integer kernels nothing to clamp: the same answers as this host's.
    const here = inspect(false);
    let apart = 0;
    avx2.reference.probabilities.forEach((p, i) =>
      p.forEach((v, c) => (apart = Math.max(apart, Math.abs(v - here.reference.probabilities[i][c])))),
    );
    t.ok(apart <= 1e-4, `AVX2 vs ${here.kernels.family}: ${apart.toExponential(2)} apart`);
  },
);
