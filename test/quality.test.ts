import t from 'tap';
import { analyzeRecord } from '../src/analysis/analyze-record.js';
import { BeatRing, emptyHeartRate, heartRateIn, RrScratch } from '../src/dsp/beats.js';
import { EcgChain } from '../src/dsp/chain.js';
import { SampleFlag } from '../src/dsp/flags.js';
import { SampleRing } from '../src/dsp/ring-buffer.js';
import { openChannel } from '../src/records/open.js';
import { rec } from './fixtures/helpers.js';

const usableShare = (ws: { quality: string }[]) =>
  ws.filter((w) => w.quality !== 'unusable').length / ws.length;

t.test('drive05: every window overlapping the saturated span (31.35-36.33 min) is unusable', async (t) => {
  const a = await analyzeRecord(rec('drivedb', 'drive05'), { fromS: 30 * 60, toS: 38 * 60 });
  const span = a.windows.filter((w) => w.endS > 31.354 * 60 && w.startS < 36.334 * 60);
  t.ok(span.length > 230, `${span.length} windows overlap the span`);
  const bad = span.filter((w) => w.quality !== 'unusable');
  t.equal(bad.length, 0, `not unusable: ${JSON.stringify(bad.slice(0, 3))}`);
  const outside = a.windows.filter((w) => w.endS < 31.3 * 60 || w.startS > 36.4 * 60);
  t.ok(usableShare(outside) > 0.8, 'the ECG around the span is usable again');
});

for (const name of ['mitdb/100', 'drivedb/drive06']) {
  t.test(`${name}: at least 95 % of windows good or acceptable`, async (t) => {
    const a = await analyzeRecord(rec(...name.split('/')));
    t.ok(a.windows.length > 1000);
    const share = usableShare(a.windows);
    t.ok(share >= 0.95, `usable share ${(100 * share).toFixed(2)} %`);
  });
}

async function feedWithFault(fault: 'gap' | 'leadOff') {
  const reader = await openChannel(rec('mitdb', '100'));
  const chain = new EcgChain({ inputRateHz: 360, maxFrame: 20 });
  const windows: { start: number; end: number; quality: string }[] = [];
  chain.onWindow = (w) =>
    windows.push({ start: w.startIndex / 500, end: w.endIndex / 500, quality: w.quality });
  const faultAt = 60 * 360; // one minute in
  const x = new Float64Array(20);
  const flags = new Uint8Array(20);
  for await (const c of reader.chunks({ toSample: 120 * 360 })) {
    for (let i = 0; i < c.physical.length; i += 20) {
      const s = c.startSample + i;
      if (fault === 'gap' && s === faultAt) {
        i += 360; // a second of samples never arrives
        chain.markGap();
      }
      const n = Math.min(20, c.physical.length - i);
      for (let k = 0; k < n; k++) {
        x[k] = c.physical[i + k];
        flags[k] = fault === 'leadOff' && s + k >= faultAt && s + k < faultAt + 36 ? SampleFlag.LeadOff : 0;
      }
      if (n > 0) chain.push(x, n, flags);
    }
  }
  return windows;
}

t.test('a window that spans a gap is never usable; windows after it recover', async (t) => {
  const windows = await feedWithFault('gap');
  const across = windows.filter((w) => w.start < 60 && w.end > 60);
  t.ok(across.length >= 3, 'windows span the gap');
  t.ok(across.every((w) => w.quality === 'unusable'));
  t.ok(usableShare(windows.filter((w) => w.start > 62)) > 0.9);
});

t.test('device lead-off flags make windows unusable', async (t) => {
  const windows = await feedWithFault('leadOff');
  const hit = windows.filter((w) => w.start < 60.1 && w.end > 60);
  t.ok(hit.length >= 3);
  t.ok(hit.every((w) => w.quality === 'unusable'));
  t.ok(usableShare(windows.filter((w) => w.end < 59.9)) > 0.9);
});

t.test('windows: length, hop and z-score normalisation from the spec', async (t) => {
  const reader = await openChannel(rec('mitdb', '100'));
  const chain = new EcgChain({
    inputRateHz: 360,
    spec: { sampleRateHz: 500, windowSamples: 2500, hopSamples: 625, normalization: 'zscore' },
  });
  const starts: number[] = [];
  let stats = { mean: 1, sd: 0 };
  chain.onWindow = (w) => {
    starts.push(w.startIndex);
    t.equal(w.endIndex - w.startIndex, 2500);
    const s = w.copySamples();
    const mean = s.reduce((a, v) => a + v, 0) / s.length;
    stats = { mean, sd: Math.sqrt(s.reduce((a, v) => a + (v - mean) ** 2, 0) / s.length) };
  };
  for await (const c of reader.chunks({ toSample: 30 * 360 })) chain.push(c.physical, c.physical.length);
  t.ok(starts.length >= 18);
  t.ok(
    starts.slice(1).every((s, i) => s - starts[i] === 625),
    'hop 625 samples (75 % overlap)',
  );
  t.ok(Math.abs(stats.mean) < 1e-4 && Math.abs(stats.sd - 1) < 1e-3, 'z-scored');
});

t.test(
  "a window's samples are the cleaned stream's, whatever the frames (the cascade writes the ring)",
  async (t) => {
    const reader = await openChannel(rec('mitdb', '100'));
    const spec = { sampleRateHz: 500, windowSamples: 2500, hopSamples: 625, normalization: 'none' } as const;
    const chain = new EcgChain({ inputRateHz: 360, spec, maxFrame: 37 });
    const clean: number[] = [];
    chain.onClean = (x, n) => {
      for (let i = 0; i < n; i++) clean.push(x[i]);
    };
    let checked = 0;
    let worst = 0;
    chain.onWindow = (w) => {
      const s = w.copySamples();
      for (let i = 0; i < s.length; i++) worst = Math.max(worst, Math.abs(s[i] - clean[w.startIndex + i]));
      checked++;
    };
    let k = 0;
    for await (const c of reader.chunks({ toSample: 60 * 360 })) {
      // Frames of changing odd sizes, so they end at every position of the ring.
      for (let i = 0; i < c.physical.length; k++) {
        const n = Math.min(1 + ((k * 7) % 37), c.physical.length - i);
        chain.push(c.physical.subarray(i, i + n), n);
        i += n;
      }
    }
    t.ok(checked >= 40, `${checked} windows`);
    t.ok(worst < 1e-6, `largest difference ${worst} (float32 rounding)`);
  },
);

t.test('heart rate, RMSSD and SDNN of known beats', async (t) => {
  const beats = new BeatRing(8);
  for (const b of [0, 500, 1000, 1600, 2100, 2600, 3100, 3600, 4100, 4600]) beats.push(b); // ring keeps the last 8
  const out = emptyHeartRate();
  heartRateIn(beats, 1000, 4700, 4700, 500, out, new RrScratch());
  // RR: 1.2, 1, 1, 1, 1, 1, 1 s
  t.equal(out.beats, 8);
  t.ok(Math.abs(out.meanBpm - 60 / (7.2 / 7)) < 1e-9);
  t.ok(Math.abs(out.rmssdMs - 1000 * Math.sqrt(0.04 / 6)) < 1e-9);
  t.ok(Math.abs(out.rrRatio - 1.2) < 1e-12);
});

/** heartRateIn over beats that make the given RR intervals (s), at 1000 samples per second. */
function statsOfIntervals(rr: readonly number[]) {
  const beats = new BeatRing(64);
  let at = 0;
  beats.push(at);
  for (const r of rr) beats.push((at += r * 1000));
  const out = emptyHeartRate();
  heartRateIn(beats, 0, at + 1, at + 1, 1000, out, new RrScratch(64));
  return out;
}

t.test('HRV uses NN intervals only: an ectopic beat and its compensatory pause are left out', async (t) => {
  // RR (s): 1, 1, 0.6 (premature), 1.4 (compensatory), 1, 1.02, 0.98
  const out = statsOfIntervals([1, 1, 0.6, 1.4, 1, 1.02, 0.98]);
  t.equal(out.rrIntervals, 7);
  t.equal(out.nnIntervals, 5, 'the 0.6 s and 1.4 s intervals are not NN');
  t.ok(Math.abs(out.meanBpm - 60 / (7 / 7)) < 1e-9, 'heart rate counts every interval');
  // Successive NN differences: 1-1, then (1.4 breaks the run) 1.02-1, 0.98-1.02
  t.ok(Math.abs(out.rmssdMs - 1000 * Math.sqrt((0 + 0.02 ** 2 + 0.04 ** 2) / 3)) < 1e-6, `${out.rmssdMs}`);
  const nn = [1, 1, 1, 1.02, 0.98];
  const mean = nn.reduce((a, b) => a + b) / nn.length;
  const sd = Math.sqrt(nn.reduce((a, b) => a + (b - mean) ** 2, 0) / nn.length);
  t.ok(Math.abs(out.sdnnMs - 1000 * sd) < 1e-6, `SDNN ${out.sdnnMs}`);
  t.equal(out.pnn50, 0, 'no NN difference over 50 ms');
});

t.test(
  'NN rule: a missed beat is left out; a pause, a slow swing and an irregular rhythm stay',
  async (t) => {
    // A missed beat: about twice the rhythm (1.9 x as the rhythm slows) is not NN.
    const missed = statsOfIntervals([1, 1, 1, 1, 1.9, 1, 1, 1]);
    t.equal(missed.nnIntervals, 7, 'the 1.9 s interval is out');
    t.ok(missed.rmssdMs < 1e-9, `RMSSD ${missed.rmssdMs} ms: only equal NN intervals remain`);
    // A sinus pause short of 1.8 x is kept, as annotators keep it.
    t.equal(statsOfIntervals([1, 1, 1, 1, 1.6, 1, 1, 1]).nnIntervals, 8, 'the 1.6 s pause is NN');
    // Respiratory sinus arrhythmia: RR swinging 0.88-1.12 s over a dozen beats is all NN.
    const swing = [
      1, 1.06, 1.12, 1.12, 1.06, 1, 0.94, 0.88, 0.88, 0.94, 1, 1.06, 1.12, 1.12, 1.06, 1, 0.94, 0.88,
    ];
    t.equal(statsOfIntervals(swing).nnIntervals, swing.length, 'every interval of the swing is NN');
    // A late ectopic beat, 12 % early, with its compensatory pause: the pair is out.
    t.equal(statsOfIntervals([1, 1, 1, 1, 0.88, 1.14, 1, 1]).nnIntervals, 6, 'the short-long pair is out');
    // Premature beats in a row: each is out, and so is the interval after the last one.
    const run = statsOfIntervals([1, 1, 1, 1, 0.6, 0.6, 0.6, 1.2, 1, 1, 1]);
    t.equal(run.nnIntervals, 7, 'three premature intervals and the one after them are out');
  },
);

t.test('ring buffer keeps the newest samples and refuses ranges it no longer holds', async (t) => {
  const ring = new SampleRing(8);
  ring.push(Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 0, 10);
  const dst = new Float64Array(3);
  ring.copyOut(7, 3, dst);
  t.same(Array.from(dst), [8, 9, 10]);
  t.throws(() => ring.copyOut(1, 3, dst), RangeError);
  t.throws(() => ring.copyOut(9, 3, dst), RangeError);
  // The largest |value| in a range, across the array's end; the first of equals.
  ring.push(Float64Array.from([-12, 3]), 0, 2); // indices 4..11 hold 5 6 7 8 9 10 -12 3
  t.equal(ring.argMaxAbs(5, 11), 10, 'the -12 written after the wrap');
  t.equal(ring.argMaxAbs(5, 9), 9, 'the 10 before it');
  ring.push(Float64Array.from([-3]), 0, 1);
  t.equal(ring.argMaxAbs(11, 12), 11, 'the first of |3| and |-3|');
  t.equal(ring.argMax(5, 11, 1), 9, 'the largest positive: 10');
  t.equal(ring.argMax(5, 12, -1), 10, 'the most negative: -12');
  t.equal(ring.valueAt(12), -3);
});
