import { randomUUID } from 'node:crypto';

export interface DecisionOptions {
  /** ema: exponential moving average of the probabilities; majority: votes over the last N windows. */
  smoothing: 'ema' | 'majority';
  emaAlpha: number;
  majorityWindows: number;
  /** A label must reach this smoothed confidence to start an episode. */
  minConfidence: number;
  /** A new label must beat the current one by this much to replace it; the current one ends below minConfidence − hysteresis. */
  hysteresis: number;
  /** Consecutive unusable windows after which a running episode ends (signal lost). */
  endAfterUnusable: number;
}

export const DEFAULT_DECISION: DecisionOptions = {
  smoothing: 'ema',
  emaAlpha: 0.3,
  majorityWindows: 5,
  minConfidence: 0.5,
  hysteresis: 0.1,
  endAfterUnusable: 3,
};

/** One rated model window as the decision layer sees it. */
export interface WindowResult {
  /** null when the window was unusable and the model was not run. */
  probabilities: ArrayLike<number> | null;
  quality: 'good' | 'acceptable' | 'unusable';
  /** Window bounds, wall clock, epoch ms. */
  startMs: number;
  endMs: number;
}

export type EventType = 'new' | 'update' | 'end';

/** What a decision was made with, as its `emotion` event reports it. */
export interface EmotionContext {
  heartRateBpm: number | null;
  signalQuality: 'good' | 'acceptable' | 'unusable';
  model: { name: string; version: string; precision: 'fp32' | 'int8'; sha256?: string };
  provider: string;
  inferenceMs: number;
  totalMs: number;
}

export interface EmotionDecision {
  type: EventType;
  /** One id per episode: new, its updates and its end share it. */
  episodeId: string;
  label: string;
  confidence: number;
  /** Smoothed probability per label. */
  probabilities: Record<string, number>;
  episodeStartMs: number;
  windowStartMs: number;
  windowEndMs: number;
  /** Why an episode ended. */
  reason?: 'label_changed' | 'low_confidence' | 'signal_lost' | 'source_ended';
}

/**
 * Per-window probabilities → smoothed state → episodes with a lifecycle. Unusable windows never
 * produce an emotion: they leave the smoothed state untouched, and enough of them in a row end the
 * running episode.
 */
export class EmotionDecider {
  private readonly smoothed: Float64Array;
  private readonly votes: number[] = [];
  private primed = false;
  private current: { id: string; label: number; startMs: number } | null = null;
  private last: WindowResult | null = null;
  private unusableRun = 0;

  constructor(
    private readonly labels: string[],
    private readonly o: DecisionOptions = DEFAULT_DECISION,
  ) {
    this.smoothed = new Float64Array(labels.length);
  }

  /**
   * The input ended (a record played out): the running episode ends at the last window, so no
   * consumer is left with an episode that never closes. Returns that end event, or nothing.
   */
  finish(): EmotionDecision[] {
    return this.current && this.last ? [this.end(this.last, 'source_ended')] : [];
  }

  /** Returns the events this window causes (zero, one, or an end and a new). */
  push(w: WindowResult): EmotionDecision[] {
    this.last = w;
    const out: EmotionDecision[] = [];
    if (w.quality === 'unusable' || !w.probabilities) {
      this.unusableRun++;
      if (this.current && this.unusableRun >= this.o.endAfterUnusable) out.push(this.end(w, 'signal_lost'));
      return out;
    }
    this.unusableRun = 0;
    this.smooth(w.probabilities);
    let best = 0;
    for (let c = 1; c < this.labels.length; c++) if (this.smoothed[c] > this.smoothed[best]) best = c;
    const conf = this.smoothed[best];
    const cur = this.current;
    if (cur) {
      const curConf = this.smoothed[cur.label];
      if (best !== cur.label && conf >= this.o.minConfidence && conf - curConf >= this.o.hysteresis) {
        out.push(this.end(w, 'label_changed'));
      } else if (curConf < this.o.minConfidence - this.o.hysteresis) {
        out.push(this.end(w, 'low_confidence'));
        return out;
      } else {
        out.push(this.decision('update', cur.id, cur.label, cur.startMs, w));
        return out;
      }
    }
    if (conf >= this.o.minConfidence) {
      this.current = { id: randomUUID(), label: best, startMs: w.startMs };
      out.push(this.decision('new', this.current.id, best, w.startMs, w));
    }
    return out;
  }

  /** The label of the running episode, if any. */
  get state(): { label: string; episodeId: string } | null {
    return this.current ? { label: this.labels[this.current.label], episodeId: this.current.id } : null;
  }

  private smooth(p: ArrayLike<number>): void {
    const C = this.labels.length;
    if (this.o.smoothing === 'ema') {
      const a = this.primed ? this.o.emaAlpha : 1;
      for (let c = 0; c < C; c++) this.smoothed[c] = a * p[c] + (1 - a) * this.smoothed[c];
      this.primed = true;
      return;
    }
    let top = 0;
    for (let c = 1; c < C; c++) if (p[c] > p[top]) top = c;
    this.votes.push(top);
    if (this.votes.length > this.o.majorityWindows) this.votes.shift();
    this.smoothed.fill(0);
    for (const v of this.votes) this.smoothed[v] += 1 / this.votes.length;
  }

  private end(w: WindowResult, reason: NonNullable<EmotionDecision['reason']>): EmotionDecision {
    const cur = this.current!;
    this.current = null;
    return { ...this.decision('end', cur.id, cur.label, cur.startMs, w), reason };
  }

  private decision(
    type: EventType,
    id: string,
    label: number,
    startMs: number,
    w: WindowResult,
  ): EmotionDecision {
    return {
      type,
      episodeId: id,
      label: this.labels[label],
      confidence: this.smoothed[label],
      probabilities: Object.fromEntries(this.labels.map((l, c) => [l, this.smoothed[c]])),
      episodeStartMs: startMs,
      windowStartMs: w.startMs,
      windowEndMs: w.endMs,
    };
  }
}
