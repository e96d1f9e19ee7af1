import t from 'tap';
import { pooled } from '../src/model/quantize/quantize-model.js';

t.test('agreement pooled over recordings counts every window once', async (t) => {
  const a = {
    windows: 400,
    top1: 398 / 400,
    maxAbsProbabilityDiff: 0.03,
    nearTies: 4,
    decisiveTop1: 395 / 396,
  };
  const b = { windows: 200, top1: 1, maxAbsProbabilityDiff: 0.05, nearTies: 0, decisiveTop1: 1 };
  t.same(pooled([a, b]), {
    windows: 600,
    top1: 598 / 600,
    maxAbsProbabilityDiff: 0.05,
    nearTies: 4,
    decisiveTop1: 595 / 596,
  });
  t.same(pooled([a]), { ...a, top1: 398 / 400, decisiveTop1: 395 / 396 });
});
