import t from 'tap';
import type { SampleFrame } from '../src/protocols/types.js';
import { SequenceTracker } from '../src/sources/sequence.js';

const S = 1_000_000_000n;
const frame = (seq: number, o: Partial<SampleFrame> = {}): SampleFrame => ({
  seq,
  seqModulus: 65536,
  seqPerSample: false,
  flags: 0,
  samples: new Int32Array(10),
  sampleRateHz: 500,
  ...o,
});

/** Frames of 10 samples at 500 Hz (20 ms apart), then a gap of `gapS`, then frames from `seqAfter`. */
function unplug(tracker: SequenceTracker, gapS: number, seqAfter: number, o: Partial<SampleFrame> = {}) {
  let at = 0n;
  for (let s = 0; s < 50; s++) {
    at += 20_000_000n;
    tracker.check(frame(s, o), at);
  }
  at += BigInt(Math.round(gapS * 1e9));
  return tracker.check(frame(seqAfter, o), at);
}

t.test('short gaps: the sequence numbers count exactly, whatever the wall clock says', async (t) => {
  const tr = new SequenceTracker();
  t.equal(tr.check(frame(0), 0n), 0);
  t.equal(tr.check(frame(1), 20_000_000n), 0);
  t.equal(tr.check(frame(4), 80_000_000n), 20, 'frames 2 and 3 lost: 20 samples');
  t.equal(tr.gaps, 1);
});

t.test(
  'a 5 s unplug after which the device restarts its counter is 5 s of samples, not 21 minutes',
  async (t) => {
    const lost = unplug(new SequenceTracker(), 5, 0);
    // 5 s at 500 Hz less the frame that ends the gap: 2490 samples.
    t.ok(Math.abs(lost - 2500) <= 250, `${lost} samples (5 s ± 0.5 s is 2250-2750)`);
  },
);

t.test(
  'a counter that wraps during a long gap (BITalino: 16 per sample) is unwrapped by the wall time',
  async (t) => {
    const tr = new SequenceTracker();
    const o = { seqModulus: 16, seqPerSample: true, samples: new Int32Array(1), sampleRateHz: 1000 };
    let at = 0n;
    let seq = 0;
    for (let i = 0; i < 100; i++, seq = (seq + 1) % 16) tr.check(frame(seq, o), (at += 1_000_000n));
    // 5 s lost: 5000 samples; the counter says (5000 mod 16) = 8.
    const after = (seq + 5000) % 16;
    const lost = tr.check(frame(after, o), at + 5n * S + 1_000_000n);
    t.equal(lost, 5000, 'the sequence value plus the whole wraps the wall time calls for');
  },
);

t.test('CAN: 256 frames per wrap; a 3 s gap at 500 Hz in 4-sample frames', async (t) => {
  const tr = new SequenceTracker();
  const o = { seqModulus: 256, samples: new Int32Array(4) };
  let at = 0n;
  for (let s = 0; s < 100; s++) tr.check(frame(s % 256, o), (at += 8_000_000n));
  // 3 s = 1500 samples = 375 frames: the counter moves by 375 mod 256 = 119.
  const lost = tr.check(frame((100 + 375) % 256, o), at + 3n * S + 8_000_000n);
  t.equal(lost, 1500);
});
