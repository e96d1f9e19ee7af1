/**
 * IIR filter design in code: Butterworth (analog prototype → bilinear transform with pre-warping)
 * and the second-order notch, returned as second-order sections normalised to a0 = 1.
 * Section order and gain placement follow scipy.signal's zpk2sos ('nearest' pairing, the poles
 * closest to the unit circle last, the gain in the first section), so coefficients compare directly.
 */

/** One biquad: [b0, b1, b2, a1, a2] with a0 = 1. */
export type Section = [number, number, number, number, number];

type C = [number, number];
const add = (a: C, b: C): C => [a[0] + b[0], a[1] + b[1]];
const sub = (a: C, b: C): C => [a[0] - b[0], a[1] - b[1]];
const mul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const div = (a: C, b: C): C => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
const scale = (a: C, k: number): C => [a[0] * k, a[1] * k];
const abs = (a: C): number => Math.hypot(a[0], a[1]);
const csqrt = (a: C): C => {
  const r = abs(a);
  const re = Math.sqrt((r + a[0]) / 2);
  const im = Math.sqrt(Math.max(0, (r - a[0]) / 2));
  return [re, a[1] < 0 ? -im : im];
};

interface Zpk {
  z: C[];
  p: C[];
  k: number;
}

/** Poles of the normalised analog Butterworth prototype of `order`. */
function butterPrototype(order: number): Zpk {
  const p: C[] = [];
  for (let m = -order + 1; m < order; m += 2) {
    const theta = (Math.PI * m) / (2 * order);
    p.push([-Math.cos(theta), -Math.sin(theta)]);
  }
  return { z: [], p, k: 1 };
}

function bilinear({ z, p, k }: Zpk, fsHz: number): Zpk {
  const fs2: C = [2 * fsHz, 0];
  const zd = z.map((q) => div(add(fs2, q), sub(fs2, q)));
  const pd = p.map((q) => div(add(fs2, q), sub(fs2, q)));
  for (let i = z.length; i < p.length; i++) zd.push([-1, 0]);
  let num: C = [1, 0];
  let den: C = [1, 0];
  for (const q of z) num = mul(num, sub(fs2, q));
  for (const q of p) den = mul(den, sub(fs2, q));
  return { z: zd, p: pd, k: k * div(num, den)[0] };
}

const prewarp = (fHz: number, fsHz: number) => 2 * fsHz * Math.tan((Math.PI * fHz) / fsHz);

function checkFreq(fHz: number, fsHz: number, what: string): void {
  if (!(fHz > 0 && fHz < fsHz / 2))
    throw new RangeError(`${what} ${fHz} Hz must lie between 0 and ${fsHz / 2} Hz`);
}

export function butterworthLowpass(order: number, cutoffHz: number, fsHz: number): Section[] {
  checkFreq(cutoffHz, fsHz, 'low-pass cutoff');
  const proto = butterPrototype(order);
  const w = prewarp(cutoffHz, fsHz);
  const analog: Zpk = { z: [], p: proto.p.map((q) => scale(q, w)), k: w ** order };
  return zpkToSos(bilinear(analog, fsHz));
}

export function butterworthHighpass(order: number, cutoffHz: number, fsHz: number): Section[] {
  checkFreq(cutoffHz, fsHz, 'high-pass cutoff');
  const proto = butterPrototype(order);
  const w = prewarp(cutoffHz, fsHz);
  const p = proto.p.map((q) => div([w, 0], q));
  let prodNegP: C = [1, 0];
  for (const q of proto.p) prodNegP = mul(prodNegP, scale(q, -1));
  const analog: Zpk = { z: proto.p.map((): C => [0, 0]), p, k: div([1, 0], prodNegP)[0] };
  return zpkToSos(bilinear(analog, fsHz));
}

export function butterworthBandpass(order: number, lowHz: number, highHz: number, fsHz: number): Section[] {
  checkFreq(lowHz, fsHz, 'band-pass low edge');
  checkFreq(highHz, fsHz, 'band-pass high edge');
  const proto = butterPrototype(order);
  const w1 = prewarp(lowHz, fsHz);
  const w2 = prewarp(highHz, fsHz);
  const bw = w2 - w1;
  const wo2 = w1 * w2;
  const p: C[] = [];
  for (const q of proto.p) {
    const half = scale(q, bw / 2);
    const root = csqrt(sub(mul(half, half), [wo2, 0]));
    p.push(add(half, root), sub(half, root));
  }
  const analog: Zpk = { z: proto.p.map((): C => [0, 0]), p, k: bw ** order };
  return zpkToSos(bilinear(analog, fsHz));
}

/** Second-order IIR notch at f0 with quality factor Q (-3 dB width f0/Q), as scipy.signal.iirnotch. */
export function notch(f0Hz: number, q: number, fsHz: number): Section[] {
  checkFreq(f0Hz, fsHz, 'notch frequency');
  const w0 = (2 * Math.PI * f0Hz) / fsHz;
  const bw = w0 / q;
  const beta = Math.tan(bw / 2); // gb = 1/sqrt(2) makes sqrt(1 - gb^2)/gb = 1
  const gain = 1 / (1 + beta);
  const c = -2 * Math.cos(w0);
  return [[gain, gain * c, gain, gain * c, 2 * gain - 1]];
}

/**
 * Groups conjugate poles (and the zeros nearest to them) into biquads. The pole pair nearest the
 * unit circle goes last, the overall gain into the first section.
 */
function zpkToSos({ z, p, k }: Zpk): Section[] {
  const isReal = (q: C) => Math.abs(q[1]) <= 1e-12 * Math.max(1, abs(q));
  const zeros = z.slice();
  const sections: Section[] = [];
  const realPoles = p.filter(isReal);
  // Conjugate pairs, each taken by its upper member.
  const pairs: C[][] = p.filter((q) => !isReal(q) && q[1] > 0).map((q) => [q, [q[0], -q[1]]]);
  // Real poles pair with each other (odd orders leave one real pole alone).
  realPoles.sort((a, b) => Math.abs(1 - abs(a)) - Math.abs(1 - abs(b)));
  for (let i = 0; i < realPoles.length; i += 2) pairs.push(realPoles.slice(i, i + 2));
  pairs.sort((a, b) => Math.abs(1 - abs(a[0])) - Math.abs(1 - abs(b[0])));
  for (const pair of pairs) {
    const chosen: C[] = [];
    for (let n = 0; n < pair.length && zeros.length > 0; n++) {
      let best = 0;
      for (let i = 1; i < zeros.length; i++) {
        if (abs(sub(zeros[i], pair[0])) < abs(sub(zeros[best], pair[0]))) best = i;
      }
      chosen.push(zeros.splice(best, 1)[0]);
    }
    sections.unshift([...poly(chosen), ...poly(pair).slice(1)] as Section);
  }
  sections[0] = [sections[0][0] * k, sections[0][1] * k, sections[0][2] * k, sections[0][3], sections[0][4]];
  return sections;
}

/** Real coefficients [c0, c1, c2] of prod (1 - r z^-1) over up to two roots. */
function poly(roots: C[]): [number, number, number] {
  if (roots.length === 0) return [1, 0, 0];
  if (roots.length === 1) return [1, -roots[0][0], 0];
  const s = add(roots[0], roots[1]);
  const pr = mul(roots[0], roots[1]);
  return [1, -s[0], pr[0]];
}

/** Magnitude response |H(e^jw)| of a cascade at frequency f. */
export function magnitudeAt(sections: readonly Section[], fHz: number, fsHz: number): number {
  const w = (2 * Math.PI * fHz) / fsHz;
  const z1: C = [Math.cos(w), -Math.sin(w)];
  const z2 = mul(z1, z1);
  let h: C = [1, 0];
  for (const [b0, b1, b2, a1, a2] of sections) {
    const num = add(add([b0, 0], scale(z1, b1)), scale(z2, b2));
    const den = add(add([1, 0], scale(z1, a1)), scale(z2, a2));
    h = mul(h, div(num, den));
  }
  return abs(h);
}

/** Group delay (seconds) of a cascade at frequency f, from the phase slope. */
export function groupDelayAt(sections: readonly Section[], fHz: number, fsHz: number): number {
  const phase = (f: number): number => {
    const w = (2 * Math.PI * f) / fsHz;
    const z1: C = [Math.cos(w), -Math.sin(w)];
    const z2 = mul(z1, z1);
    let h: C = [1, 0];
    for (const [b0, b1, b2, a1, a2] of sections) {
      h = mul(
        h,
        div(add(add([b0, 0], scale(z1, b1)), scale(z2, b2)), add(add([1, 0], scale(z1, a1)), scale(z2, a2))),
      );
    }
    return Math.atan2(h[1], h[0]);
  };
  const df = 0.01;
  let dphi = phase(fHz + df) - phase(fHz - df);
  if (dphi > Math.PI) dphi -= 2 * Math.PI;
  if (dphi < -Math.PI) dphi += 2 * Math.PI;
  return -dphi / (2 * Math.PI * 2 * df);
}
