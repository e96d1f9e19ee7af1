import t from 'tap';
import { DEFAULT_DECISION, EmotionDecider, type WindowResult } from '../src/decision/decider.js';

const labels = ['low', 'medium', 'high'];
let clock = 1_700_000_000_000;
const w = (p: number[] | null, quality: WindowResult['quality'] = 'good'): WindowResult => {
  clock += 1250;
  return { probabilities: p, quality, startMs: clock - 5000, endMs: clock };
};
const HIGH = [0.1, 0.1, 0.8];
const LOW = [0.8, 0.1, 0.1];

t.test('an episode: new, updates with one id, end when another label wins by the hysteresis', async (t) => {
  const d = new EmotionDecider(labels);
  const events = [HIGH, HIGH, HIGH, LOW, LOW, LOW, LOW].flatMap((p) => d.push(w(p)));
  t.same(
    events.map((e) => `${e.type}:${e.label}`),
    // EMA α 0.3: LOW needs three windows to reach 0.56 against high's 0.34 (≥ 0.5, margin ≥ 0.1).
    [
      'new:high',
      'update:high',
      'update:high',
      'update:high',
      'update:high',
      'end:high',
      'new:low',
      'update:low',
    ],
  );
  const high = events.filter((e) => e.label === 'high');
  t.equal(new Set(high.map((e) => e.episodeId)).size, 1, 'one id per episode');
  t.not(high[0].episodeId, events.at(-1)!.episodeId);
  t.equal(events[5].reason, 'label_changed');
  t.ok(Math.abs(Object.values(events[0].probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-9);
});

t.test('hysteresis: a label flickering across the threshold does not flap', async (t) => {
  const d = new EmotionDecider(labels);
  const flicker = [
    HIGH,
    [0.45, 0.1, 0.45],
    [0.4, 0.1, 0.5],
    [0.5, 0.1, 0.4],
    [0.45, 0.1, 0.45],
    [0.4, 0.1, 0.5],
  ];
  const events = flicker.flatMap((p) => d.push(w(p)));
  t.same(
    events.filter((e) => e.type !== 'update').map((e) => e.type),
    ['new'],
    'no end, no second new',
  );
});

t.test(
  'unusable windows never produce an emotion; enough of them end the episode (signal lost)',
  async (t) => {
    const d = new EmotionDecider(labels);
    t.same(d.push(w(null, 'unusable')), [], 'nothing from an unusable window');
    d.push(w(HIGH));
    t.same(d.push(w(HIGH, 'unusable')), []);
    t.same(d.push(w(null, 'unusable')), []);
    const ended = d.push(w(null, 'unusable'));
    t.equal(ended.length, 1);
    t.equal(ended[0].type, 'end');
    t.equal(ended[0].reason, 'signal_lost');
    t.equal(d.state, null);
  },
);

t.test(
  'majority smoothing: the label with most of the last N votes; low confidence ends an episode',
  async (t) => {
    const d = new EmotionDecider(labels, {
      ...DEFAULT_DECISION,
      smoothing: 'majority',
      majorityWindows: 4,
      minConfidence: 0.6,
    });
    const a = [HIGH, HIGH, HIGH].flatMap((p) => d.push(w(p)));
    t.equal(a[0].type, 'new');
    t.equal(a[0].confidence, 1);
    const b = [LOW, [0.2, 0.6, 0.2], LOW].flatMap((p) => d.push(w(p)));
    // votes h,h,h,l → 0.75; h,h,l,m → 0.5 (not below 0.6 − 0.1); h,l,m,l → 0.25: ends.
    t.same(
      b.map((e) => e.type),
      ['update', 'update', 'end'],
    );
    t.equal(b[2].reason, 'low_confidence');
  },
);

t.test('the end of a record ends the open episode at its last window, once', async (t) => {
  const d = new EmotionDecider(labels);
  t.same(d.finish(), [], 'nothing open before any window');
  const started = [HIGH, HIGH, HIGH].flatMap((p) => d.push(w(p)));
  const last = started.at(-1)!;
  const [end, ...more] = d.finish();
  t.same(more, []);
  t.match(end, { type: 'end', label: 'high', reason: 'source_ended', episodeId: last.episodeId });
  t.equal(end.windowEndMs, last.windowEndMs, 'at the last window, not later');
  t.same(d.finish(), [], 'an ended episode does not end twice');
});
