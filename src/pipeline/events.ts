import type { EmotionContext, EmotionDecision } from '../decision/decider.js';
import type { QualityClass } from '../dsp/quality.js';
import type { HeartRateStats } from '../dsp/beats.js';

/** A window's wall-clock bounds, epoch ms. */
export interface Bounds {
  startMs: number;
  endMs: number;
}

/** Every rated window (the heart rate is NaN where too few beats were found). */
export interface WindowRated {
  quality: QualityClass;
  reasons: string[];
  /** A copy: the chain reuses its window object. */
  heartRate: HeartRateStats;
  bounds: Bounds;
  /** Model-rate sample indices, [start, end). */
  start: number;
  end: number;
}

/** What became of a rated window: unusable, skipped while the model was busy, or scored. */
export interface WindowOutcome {
  start: number;
  end: number;
  quality: QualityClass;
  reasons: string[];
  hrBpm: number | null;
  rmssdMs: number | null;
  skipped?: true;
  p?: number[];
  inferenceMs?: number;
  totalMs?: number;
}

export interface EmotionDecided {
  decision: EmotionDecision;
  context: EmotionContext;
  /** Model-rate index of the window end that caused it. */
  index: number;
  /** process.hrtime.bigint() at the decision, for publish latency. */
  decidedNs: bigint;
}

/** The pipeline's output. Sinks subscribe; the pipeline knows none of them. */
export interface PipelineEvents {
  /** A new chain started (first frame, or a new input rate): indices start again at 0. */
  restart: [];
  /** Each frame's cleaned samples at the model rate (reused buffer: valid during the call). */
  clean: [x: Float64Array, length: number];
  beat: [index: number];
  gap: [lost: number | null];
  window: [w: WindowRated];
  outcome: [o: WindowOutcome];
  emotion: [e: EmotionDecided];
  /** The smoothed state after the decisions of a window, or null when no episode runs. */
  emotionState: [state: { label: string; episodeId: string; confidence: number } | null];
  /** The daemon's counters, every `mqtt.statsIntervalS`. */
  stats: [s: DaemonStats];
  /** The daemon's liveness tick (at least every second): samples flowing, inference not stuck. */
  liveness: [alive: boolean, problem: string | null];
}

/** What the `stats` topic reports. */
export interface DaemonStats {
  uptimeS: number;
  samples: number;
  windows: { good: number; acceptable: number; unusable: number };
  events: number;
  outboxDepth: number;
  outboxLost: number;
  reconnects: number;
  crcErrors: number;
  inferenceP50Ms: number | null;
  ready: boolean;
  notReady: string[];
  /** Up or away, for how long (s), and the last reason it went away. */
  broker: BrokerLink;
}

export interface BrokerLink {
  connected: boolean;
  forS: number;
  lastError: string | null;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** A typed event bus: `on` returns the function that unsubscribes. Listeners run synchronously. */
export class EventBus<E extends { [K in keyof E]: unknown[] }> {
  private readonly listeners: { [K in keyof E]?: Listener<E[K]>[] } = {};

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const list = (this.listeners[event] ??= []);
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const list = this.listeners[event];
    if (!list) return;
    for (const l of list) l(...args);
  }

  /** Whether anyone listens (so a costly payload is built only when it is used). */
  has<K extends keyof E>(event: K): boolean {
    return (this.listeners[event]?.length ?? 0) > 0;
  }
}
