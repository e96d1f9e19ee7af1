import t from 'tap';
import {
  butterworthBandpass,
  butterworthHighpass,
  butterworthLowpass,
  magnitudeAt,
  notch,
  type Section,
} from '../src/dsp/filter-design.js';
import { SosCascade } from '../src/dsp/sos-cascade.js';
import { DspArena } from '../src/dsp/wasm/arena.js';

// Reference values: scipy.signal.butter(..., output='sos') and scipy.signal.iirnotch (scipy 1.17), a0 dropped.
const REF: Record<string, Section[]> = {
  'butter(2, 0.5, highpass, fs=500)': [
    [0.9955669720176472, -1.9911339440352944, 0.9955669720176472, -1.9911142922016536, 0.9911535958689355],
  ],
  'butter(4, 40, lowpass, fs=500)': [
    [
      0.002234891698082326, 0.004469783396164652, 0.002234891698082326, -1.2128120926202186,
      0.3840041622865537,
    ],
    [1, 2, 1, -1.479798894397217, 0.6886769530538618],
  ],
  'butter(4, 40, lowpass, fs=360)': [
    [
      0.006890401067214046, 0.013780802134428092, 0.006890401067214046, -0.9612453444136209,
      0.2548166794342573,
    ],
    [1, 2, 1, -1.2296214708465132, 0.6051568311625162],
  ],
  'iirnotch(50, 30, fs=500)': [
    [0.9896361753628921, -1.6012649682336106, 0.9896361753628921, -1.6012649682336106, 0.9792723507257841],
  ],
  'iirnotch(60, 30, fs=500)': [
    [0.9875889380903247, -1.4398427053125467, 0.9875889380903247, -1.4398427053125467, 0.9751778761806493],
  ],
  'butter(2, [5, 15], bandpass, fs=500)': [
    [
      0.003621681514928638, 0.007243363029857276, 0.003621681514928638, -1.856717888231373,
      0.8828778593199963,
    ],
    [1, -2, 1, -1.9433324770530842, 0.9482417555479649],
  ],
};

const DESIGNED: Record<string, Section[]> = {
  'butter(2, 0.5, highpass, fs=500)': butterworthHighpass(2, 0.5, 500),
  'butter(4, 40, lowpass, fs=500)': butterworthLowpass(4, 40, 500),
  'butter(4, 40, lowpass, fs=360)': butterworthLowpass(4, 40, 360),
  'iirnotch(50, 30, fs=500)': notch(50, 30, 500),
  'iirnotch(60, 30, fs=500)': notch(60, 30, 500),
  'butter(2, [5, 15], bandpass, fs=500)': butterworthBandpass(2, 5, 15, 500),
};

for (const [name, ref] of Object.entries(REF)) {
  t.test(`${name} matches scipy`, async (t) => {
    const got = DESIGNED[name];
    t.equal(got.length, ref.length, 'section count');
    for (const [i, sec] of ref.entries()) {
      for (const [k, v] of sec.entries()) {
        t.ok(Math.abs(got[i][k] - v) < 1e-12, `section ${i} coef ${k}: ${got[i][k]} vs ${v}`);
      }
    }
  });
}

t.test('Butterworth responses: -3 dB at the cutoff, notch nulls mains', async (t) => {
  const db = (s: Section[], f: number, fs: number) => 20 * Math.log10(magnitudeAt(s, f, fs));
  t.ok(Math.abs(db(butterworthLowpass(4, 40, 500), 40, 500) + 3.0103) < 1e-6);
  t.ok(Math.abs(db(butterworthHighpass(2, 0.5, 500), 0.5, 500) + 3.0103) < 1e-6);
  t.ok(db(notch(50, 30, 500), 50, 500) < -100, 'deep null at 50 Hz');
  t.ok(Math.abs(db(notch(50, 30, 500), 10, 500)) < 0.05, 'flat at 10 Hz');
  t.throws(() => butterworthLowpass(4, 300, 500), RangeError);
});

/** A cascade filtering, in place, an arena buffer that starts as a copy of `x`. */
function inArena(sections: Section[], x: Float64Array) {
  const arena = new DspArena(SosCascade.arenaBytes(sections.length) + DspArena.bytesFor(x.length));
  const buffer = arena.f64(x.length);
  buffer.set(x);
  return { cascade: new SosCascade(sections, arena), buffer };
}

t.test('the cascade filters identically whatever the frame sizes', async (t) => {
  const sections = [
    ...butterworthHighpass(2, 0.5, 500),
    ...notch(50, 30, 500),
    ...butterworthLowpass(4, 40, 500),
  ];
  const x = new Float64Array(5000).map(
    (_, i) => Math.sin(i * 0.05) + 0.3 * Math.sin(i * 0.63) + (i % 97 === 0 ? 2 : 0),
  );
  const whole = inArena(sections, x);
  whole.cascade.process(whole.buffer, 0, x.length);
  const { cascade: c, buffer: framed } = inArena(sections, x);
  let off = 0;
  let k = 1;
  while (off < framed.length) {
    const n = Math.min(k, framed.length - off);
    c.process(framed, off, n);
    off += n;
    k = (k * 7 + 3) % 61 || 1;
  }
  t.same(Array.from(framed), Array.from(whole.buffer));
  // and equals a direct-form evaluation of the difference equations
  const direct = x.slice();
  for (const [b0, b1, b2, a1, a2] of sections) {
    let x1 = 0,
      x2 = 0,
      y1 = 0,
      y2 = 0;
    for (let i = 0; i < direct.length; i++) {
      const xi = direct[i];
      const y = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
      x2 = x1;
      x1 = xi;
      y2 = y1;
      y1 = y;
      direct[i] = y;
    }
  }
  t.ok(
    direct.every((v, i) => Math.abs(v - whole.buffer[i]) < 1e-9),
    'the kernel evaluates the difference equations',
  );
});

t.test('priming removes the start-up step of a DC offset', async (t) => {
  const sections = [...butterworthHighpass(2, 0.5, 500), ...butterworthLowpass(4, 40, 500)];
  const { cascade: c, buffer: x } = inArena(sections, new Float64Array(100).fill(-5.12));
  c.primeWith(-5.12);
  c.process(x, 0, x.length);
  t.ok(
    x.every((v) => Math.abs(v) < 1e-9),
    'a constant offset gives zero from the first sample',
  );
});

t.test('a cascade refuses ranges outside its buffers and buffers outside its arena', async (t) => {
  const sections = butterworthLowpass(2, 40, 500);
  const { cascade, buffer } = inArena(sections, new Float64Array(20));
  t.throws(() => cascade.process(buffer, 10, 11), RangeError);
  t.throws(() => cascade.process(new Float64Array(20), 0, 20), /not in this DSP arena/);
  const arena = new DspArena(SosCascade.arenaBytes(1));
  t.throws(() => arena.f64(1000), /cannot hold/);
});
