import { spawnSync } from 'node:child_process';
import t from 'tap';
import { DspArena } from '../src/dsp/wasm/arena.js';

t.test('the committed WebAssembly module is what src/dsp/wasm/dsp.wat assembles to', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
});

t.test(
  'blockStats: sums, extremes, band power, baseline and flat runs, for even and odd counts, across calls',
  async (t) => {
    const FIELDS = 18;
    const arena = new DspArena(DspArena.bytesFor(64, 64, 64, 5, 4, FIELDS));
    const c = arena.f64(64);
    const r = arena.f64(64);
    const band = arena.f64(64);
    const coef = arena.f64(5);
    const state = arena.f64(4);
    const row = arena.f64(FIELDS);
    for (let i = 0; i < 64; i++) {
      c[i] = Math.sin(i * 1.7) * 3 + (i % 5) - 2;
      r[i] = i >= 20 && i < 40 ? 7 : i * 0.25; // one run of 20 equal raw values
      band[i] = Math.cos(i * 0.3);
    }
    coef.set([0.1, 0.2, 0.1, -0.9, 0.3]);
    const [b0, b1, b2, a1, a2] = coef;
    const flatRunMin = 5;
    // The references: plain sums; the flat count sample by sample as the windower defines it; the
    // baseline biquad in transposed form II on every fourth sample.
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
    let z1 = 0.5;
    let z2 = -0.25;
    const baselineOf = (v: number[]) => {
      let s1 = 0;
      let s2 = 0;
      for (const x of v) {
        const y = b0 * x + z1;
        z1 = b1 * x - a1 * y + z2;
        z2 = b2 * x - a2 * y;
        s1 += y;
        s2 += y * y;
      }
      return [s1, s2, v.length];
    };
    state.set([Number.NaN, 0, z1, z2]);
    const sum = (v: number[], p: number) => v.reduce((a, y) => a + y ** p, 0);
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
    let flatTotal = 0;
    for (const [from, n, baseFirst, bandFrom, bandCount] of [
      [0, 0, 0, 0, 0],
      [0, 1, 0, 0, 1],
      [1, 20, 3, 1, 10],
      [21, 7, 1, 11, 3],
      [28, 2, 0, 14, 1],
      [30, 34, 2, 15, 17],
    ]) {
      row.fill(0);
      row[15] = Infinity;
      row[16] = -Infinity;
      arena.kernels.blockStats(
        arena.offsetOf(c) + 8 * from,
        arena.offsetOf(r) + 8 * from,
        n,
        arena.offsetOf(band) + 8 * bandFrom,
        bandCount,
        baseFirst,
        arena.offsetOf(coef),
        arena.offsetOf(state),
        flatRunMin,
        arena.offsetOf(row),
      );
      const vc = Array.from(c.subarray(from, from + n));
      const vr = Array.from(r.subarray(from, from + n));
      t.equal(row[0], n, `count of ${n}`);
      t.ok(
        [1, 2, 3, 4].every((p) => close(row[p], sum(vc, p))),
        `clean sums over ${n} samples`,
      );
      t.equal(row[15], n ? Math.min(...vc) : Infinity, `min over ${n}`);
      t.equal(row[16], n ? Math.max(...vc) : -Infinity, `max over ${n}`);
      t.ok(close(row[5], sum(vr, 1)) && close(row[6], sum(vr, 2)), `raw sums over ${n} samples`);
      const base = baselineOf(vr.filter((_, k) => k >= baseFirst && (k - baseFirst) % 4 === 0));
      t.ok(
        close(row[7], base[0]) && close(row[8], base[1]) && row[9] === base[2],
        `baseline sums over ${base[2]} samples`,
      );
      t.ok(close(state[2], z1) && close(state[3], z2), 'baseline state carried');
      const vb = Array.from(band.subarray(bandFrom, bandFrom + bandCount));
      t.ok(close(row[10], sum(vb, 2)) && row[17] === bandCount, `band power over ${bandCount} samples`);
      const flat = flatOf(vr);
      t.equal(row[11], flat, `flat samples over [${from}, ${from + n})`);
      flatTotal += flat;
    }
    t.equal(flatTotal, 19, 'a run of 20 equal values (19 repeats) counts 19, though split over three calls');
  },
);

t.test('blockStats: a run of repeats is found wherever it starts in a stretch', async (t) => {
  // The kernel skips its flat-run loop when a stretch has no repeated raw value, so a repeat must
  // be seen at every position: the first sample against the last of the previous call, either lane
  // of a pair, the odd last sample.
  const FIELDS = 18;
  const n = 9;
  const arena = new DspArena(DspArena.bytesFor(n, n, 5, 4, FIELDS));
  const c = arena.f64(n);
  const r = arena.f64(n);
  arena.f64(5);
  const state = arena.f64(4);
  const row = arena.f64(FIELDS);
  for (let at = 0; at < n; at++) {
    for (let k = 0; k < n; k++) r[k] = k + 100;
    // One repeat, at `at` (at 0: of the previous call's last value, 99); one repeat is a flat run here.
    r[at] = at === 0 ? 99 : r[at - 1];
    state.set([99, 0, 0, 0]);
    row.fill(0);
    arena.kernels.blockStats(
      arena.offsetOf(c),
      arena.offsetOf(r),
      n,
      arena.offsetOf(c),
      0,
      n,
      arena.offsetOf(c),
      arena.offsetOf(state),
      1,
      arena.offsetOf(row),
    );
    t.equal(row[11], 1, `repeat at ${at}: flat count`);
    t.equal(state[1], at === n - 1 ? 1 : 0, `repeat at ${at}: the run carried to the next call`);
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
