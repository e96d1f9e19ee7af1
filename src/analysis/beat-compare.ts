/** Beat-by-beat comparison of detected and reference beat times (in the manner of WFDB's bxb). */
export interface BeatComparison {
  tp: number;
  fp: number;
  fn: number;
  sensitivity: number;
  ppv: number;
}

/** Both lists in seconds, ascending. A detection matches the nearest unmatched reference within tolerance. */
export function compareBeats(
  reference: readonly number[],
  detected: readonly number[],
  toleranceS: number,
): BeatComparison {
  let i = 0;
  let j = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  while (i < reference.length || j < detected.length) {
    if (i < reference.length && j < detected.length && Math.abs(reference[i] - detected[j]) <= toleranceS) {
      // If the next detection is closer to this reference, this detection is the extra one.
      if (
        j + 1 < detected.length &&
        Math.abs(reference[i] - detected[j + 1]) < Math.abs(reference[i] - detected[j])
      ) {
        fp++;
        j++;
        continue;
      }
      tp++;
      i++;
      j++;
    } else if (j < detected.length && (i >= reference.length || detected[j] < reference[i])) {
      fp++;
      j++;
    } else {
      fn++;
      i++;
    }
  }
  return {
    tp,
    fp,
    fn,
    sensitivity: tp + fn === 0 ? 1 : tp / (tp + fn),
    ppv: tp + fp === 0 ? 1 : tp / (tp + fp),
  };
}
