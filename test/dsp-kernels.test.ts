import { spawnSync } from 'node:child_process';
import t from 'tap';
import { DspArena } from '../src/dsp/wasm/arena.js';

t.test('the committed WebAssembly module is what src/dsp/wasm/dsp.wat assembles to', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
});

t.test('moments: sums of x to x⁴, min and max, for even and odd counts', async (t) => {
  const arena = new DspArena(DspArena.bytesFor(64, 6));
  const x = arena.f64(64);
  const out = arena.f64(6);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 1.7) * 3 + (i % 5) - 2;
  for (const [from, n] of [
    [0, 0],
    [0, 1],
    [3, 2],
    [5, 7],
    [1, 20],
    [0, 64],
  ]) {
    arena.kernels.moments(arena.offsetOf(x) + 8 * from, n, arena.offsetOf(out));
    const v = Array.from(x.subarray(from, from + n));
    const sum = (p: number) => v.reduce((a, y) => a + y ** p, 0);
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
    t.ok(
      [1, 2, 3, 4].every((p) => close(out[p - 1], sum(p))),
      `sums over ${n} samples`,
    );
    t.equal(out[4], n ? Math.min(...v) : Infinity, `min over ${n}`);
    t.equal(out[5], n ? Math.max(...v) : -Infinity, `max over ${n}`);
  }
});

t.test('an arena hands out aligned, separate buffers and refuses what it cannot hold', async (t) => {
  const arena = new DspArena(DspArena.bytesFor(3, 5));
  const a = arena.f64(3);
  const b = arena.f64(5);
  t.equal(arena.offsetOf(a) % 16, 0);
  t.equal(arena.offsetOf(b) % 16, 0);
  t.ok(arena.offsetOf(b) >= arena.offsetOf(a) + 24, 'no overlap');
  t.throws(() => arena.f64(1), /cannot hold/);
  t.throws(() => arena.offsetOf(new Float64Array(3)), /not in this DSP arena/);
});
