import t from 'tap';
import { Resampler, rateRatio } from '../src/dsp/resampler.js';

/** Amplitude of the component at `f` in y (least squares on sin/cos) and the RMS of what is left. */
function fit(y: Float64Array, f: number, fs: number): { amp: number; residualRms: number } {
  let ss = 0,
    cc = 0,
    sc = 0,
    ys = 0,
    yc = 0;
  for (let i = 0; i < y.length; i++) {
    const s = Math.sin((2 * Math.PI * f * i) / fs);
    const c = Math.cos((2 * Math.PI * f * i) / fs);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    ys += y[i] * s;
    yc += y[i] * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det;
  const b = (yc * ss - ys * sc) / det;
  let r2 = 0;
  for (let i = 0; i < y.length; i++) {
    const e = y[i] - a * Math.sin((2 * Math.PI * f * i) / fs) - b * Math.cos((2 * Math.PI * f * i) / fs);
    r2 += e * e;
  }
  return { amp: Math.hypot(a, b), residualRms: Math.sqrt(r2 / y.length) };
}

/** Resamples a unit sine at f in 20-sample frames; returns the steady-state output. */
function run(inHz: number, f: number, seconds = 4): Float64Array {
  const r = new Resampler(inHz, 500, { maxFrame: 20 });
  const total = Math.round(seconds * inHz);
  const out: number[] = [];
  const frame = new Float64Array(20);
  for (let i = 0; i < total; i += 20) {
    const n = Math.min(20, total - i);
    for (let k = 0; k < n; k++) frame[k] = Math.sin((2 * Math.PI * f * (i + k)) / inHz);
    const m = r.process(frame, 0, n);
    for (let k = 0; k < m; k++) out.push(r.out[k]);
  }
  return Float64Array.from(out.slice(250)); // skip the filter's start-up (0.5 s)
}

t.test('rate ratios', async (t) => {
  t.same(rateRatio(360, 500), { up: 25, down: 18 });
  t.same(rateRatio(496, 500), { up: 125, down: 124 });
  t.same(rateRatio(15.5 * 32, 500), { up: 125, down: 124 });
  t.same(rateRatio(1000, 500), { up: 1, down: 2 });
});

for (const inHz of [360, 480, 496, 250, 1000]) {
  t.test(`${inHz} Hz → 500 Hz: flat passband, 60 dB rejection of aliases and images`, async (t) => {
    const passErr: number[] = [];
    for (const f of [0.5, 1, 2, 5, 10, 15, 20, 25, 30, 35, 40]) {
      const { amp } = fit(run(inHz, f), f, 500);
      passErr.push(Math.abs(20 * Math.log10(amp)));
    }
    t.ok(Math.max(...passErr) <= 0.1, `passband ripple ${Math.max(...passErr).toFixed(4)} dB <= 0.1 dB`);
    // Sweep the band the conversion must reject: above the output Nyquist when decimating (aliases);
    // for interpolation every input tone leaves images, measured as whatever is not the tone itself.
    const worst: number[] = [];
    const nyqIn = inHz / 2;
    const nyqOut = 250;
    if (inHz > 500) {
      for (let f = nyqOut + 5; f < nyqIn; f += 17) {
        const y = run(inHz, f);
        const rms = Math.sqrt(y.reduce((a, v) => a + v * v, 0) / y.length);
        worst.push(20 * Math.log10(rms * Math.SQRT2));
      }
    } else {
      for (let f = 3; f < Math.min(nyqIn, nyqOut) - 1; f += 11) {
        const { residualRms } = fit(run(inHz, f), f, 500);
        worst.push(20 * Math.log10(residualRms * Math.SQRT2));
      }
    }
    t.ok(worst.length > 5, 'swept enough tones');
    t.ok(Math.max(...worst) <= -60, `worst alias/image ${Math.max(...worst).toFixed(1)} dB <= -60 dB`);
  });
}

t.test('a constant stays exactly constant and flags ride along', async (t) => {
  const r = new Resampler(360, 500, { maxFrame: 40 });
  const x = new Float64Array(40).fill(-10);
  const flags = new Uint8Array(40);
  flags[39] = 2;
  let last = 0;
  for (let k = 0; k < 10; k++) last = r.process(x, 0, 40, flags);
  t.ok(Array.from(r.out.subarray(0, last)).every((v) => Math.abs(v + 10) < 1e-12));
  t.ok(r.outFlags.subarray(0, last).includes(2), 'the flagged input reaches an output sample');
});

t.test('output and flags do not depend on how the input is split into frames', async (t) => {
  const n = 5000;
  const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i / 7) + 0.3 * Math.cos(i / 2.3));
  const flags = new Uint8Array(n);
  flags[1234] = 1;
  flags[3000] = 4;
  for (const inHz of [360, 496, 1000]) {
    const collect = (frames: number[]) => {
      const r = new Resampler(inHz, 500, { maxFrame: Math.max(...frames) });
      const y: number[] = [];
      const f: number[] = [];
      for (let at = 0, k = 0; at < n; k++) {
        const len = Math.min(frames[k % frames.length], n - at);
        const m = r.process(x, at, len, flags);
        y.push(...r.out.subarray(0, m));
        f.push(...r.outFlags.subarray(0, m));
        at += len;
      }
      return { y, f };
    };
    const whole = collect([n]);
    const pieces = collect([1, 20, 7, 333, 2]);
    t.same(pieces.y, whole.y, `${inHz} Hz: the same samples in frames of 1 to 333 as in one frame`);
    t.same(pieces.f, whole.f, `${inHz} Hz: the same flags`);
    t.ok(whole.f.includes(1) && whole.f.includes(4), `${inHz} Hz: each flag reaches the output`);
  }
  t.throws(() => new Resampler(360, 500, { maxFrame: 20 }).process(x, 0, 21), RangeError);
});
