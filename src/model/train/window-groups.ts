/** Where a training window lies: its recording and its start, in seconds. */
export interface WindowSpan {
  record: string;
  startS: number;
}

/**
 * Groups for cross-validation such that windows which share samples share a group: windows of
 * the groups given (segments or recordings) are merged wherever two of different groups overlap
 * in time (segments that overlap in the labels file, or windows closer than their length).
 */
export function overlapSafeGroups(spans: WindowSpan[], groups: string[], lengthS: number): string[] {
  const parent = new Map<string, string>();
  const find = (g: string): string => {
    let r = g;
    while (parent.get(r) !== r) r = parent.get(r) ?? r;
    parent.set(g, r);
    return r;
  };
  for (const g of groups) if (!parent.has(g)) parent.set(g, g);
  for (const [a, b] of overlappingPairs(spans, lengthS)) {
    const [ra, rb] = [find(groups[a]), find(groups[b])];
    if (ra !== rb) parent.set(rb < ra ? ra : rb, rb < ra ? rb : ra); // the smaller name stands for both
  }
  return groups.map(find);
}

/**
 * Throws if a test window shares samples with a training window in any fold: the check that the
 * overlap (75 % by default) never lets a window's neighbour be scored on what it was trained on.
 */
export function assertNoStraddle(spans: WindowSpan[], foldOf: number[], lengthS: number): void {
  for (const [a, b] of overlappingPairs(spans, lengthS)) {
    if (foldOf[a] !== foldOf[b]) {
      const at = (i: number) => `${spans[i].record} ${spans[i].startS.toFixed(2)} s`;
      throw new Error(`overlapping windows in folds ${foldOf[a]} and ${foldOf[b]}: ${at(a)} and ${at(b)}`);
    }
  }
}

/** Index pairs of windows of one recording whose spans intersect. */
function* overlappingPairs(spans: WindowSpan[], lengthS: number): Generator<[number, number]> {
  const order = spans
    .map((_, i) => i)
    .sort((a, b) => spans[a].record.localeCompare(spans[b].record) || spans[a].startS - spans[b].startS);
  for (let x = 0; x < order.length; x++) {
    const a = spans[order[x]];
    for (let y = x + 1; y < order.length; y++) {
      const b = spans[order[y]];
      if (b.record !== a.record || b.startS >= a.startS + lengthS) break;
      yield [order[x], order[y]];
    }
  }
}
