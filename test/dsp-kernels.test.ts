import { spawnSync } from 'node:child_process';
import t from 'tap';
import { DspArena } from '../src/dsp/wasm/arena.js';

t.test('the committed WebAssembly module is what src/dsp/wasm/dsp.wat assembles to', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
});

t.test('stretchStats: sums, extremes and flat runs, for even and odd counts, across calls', async (t) => {
  const arena = new DspArena(DspArena.bytesFor(64, 64, 2, 9));
  const c = arena.f64(64);
  const r = arena.f64(64);
  const state = arena.f64(2);
  const out = arena.f64(9);
  for (let i = 0; i < 64; i++) {
    c[i] = Math.sin(i * 1.7) * 3 + (i % 5) - 2;
    r[i] = i >= 20 && i < 40 ? 7 : i * 0.25; // one run of 20 equal raw values
  }
  const flatRunMin = 5;
  // The reference: plain sums, and the flat count sample by sample as the windower defines it.
  let last = Number.NaN;
  let run = 0;
  const flatOf = (v: number[]) => {
    let flat = 0;
    for (const y of v) {
      run = y === last ? run + 1 : 0;
      flat += (run === flatRunMin ? flatRunMin : 0) + (run > flatRunMin ? 1 : 0);
      last = y;
    }
    return flat;
  };
  state[0] = Number.NaN;
  let flatTotal = 0;
  for (const [from, n] of [
    [0, 0],
    [0, 1],
    [1, 20],
    [21, 7],
    [28, 2],
    [30, 34],
  ]) {
    arena.kernels.stretchStats(
      arena.offsetOf(c) + 8 * from,
      arena.offsetOf(r) + 8 * from,
      n,
      arena.offsetOf(state),
      flatRunMin,
      arena.offsetOf(out),
    );
    const vc = Array.from(c.subarray(from, from + n));
    const vr = Array.from(r.subarray(from, from + n));
    const sum = (v: number[], p: number) => v.reduce((a, y) => a + y ** p, 0);
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
    t.ok(
      [1, 2, 3, 4].every((p) => close(out[p - 1], sum(vc, p))),
      `clean sums over ${n} samples`,
    );
    t.equal(out[4], n ? Math.min(...vc) : Infinity, `min over ${n}`);
    t.equal(out[5], n ? Math.max(...vc) : -Infinity, `max over ${n}`);
    t.ok(close(out[6], sum(vr, 1)) && close(out[7], sum(vr, 2)), `raw sums over ${n} samples`);
    const flat = flatOf(vr);
    t.equal(out[8], flat, `flat samples over [${from}, ${from + n})`);
    flatTotal += flat;
  }
  t.equal(flatTotal, 19, 'a run of 20 equal values (19 repeats) counts 19, though split over three calls');
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
