import { cleaningFrom, thresholdsFrom } from '../config/dsp-options.js';
import type { Config } from '../config/schema.js';
import { EmotionDecider, type EmotionContext, type EmotionDecision } from '../decision/decider.js';
import { EcgChain } from '../dsp/chain.js';
import { reasonNames } from '../dsp/quality.js';
import type { EcgWindow } from '../dsp/windower.js';
import type { Logger } from '../log.js';
import type { ModelPackage } from '../model/package/model-package.js';
import { windowSpecOf } from '../model/package/model-package.js';
import type { InferenceEngine } from '../model/runtime/engine.js';
import { modelRef } from '../model/package/manifest.js';
import type { EcgFrame } from '../sources/source.js';
import type { Bounds, EventBus, PipelineEvents, WindowOutcome } from './events.js';
import { LatencyStats } from './latency.js';

export interface PipelineStats {
  samples: number;
  windows: { good: number; acceptable: number; unusable: number };
  /** Usable windows skipped because the model was still busy with the previous one. */
  droppedBusy: number;
  events: { new: number; update: number; end: number };
  /** From the ingress of the frame that completed a window to the window rated (resample, clean, R-peaks, quality). */
  dsp: LatencyStats;
  /** session.run time in the worker. */
  inference: LatencyStats;
  /** From the ingress of the frame that completed a window to its decision. */
  total: LatencyStats;
}

export const emptyPipelineStats = (): PipelineStats => ({
  samples: 0,
  windows: { good: 0, acceptable: 0, unusable: 0 },
  droppedBusy: 0,
  events: { new: 0, update: 0, end: 0 },
  dsp: new LatencyStats(),
  inference: new LatencyStats(),
  total: new LatencyStats(),
});

export interface PipelineOptions {
  config: Config;
  inputRateHz: number;
  pkg: ModelPackage;
  engine: InferenceEngine;
  log: Logger;
  /** Where its events go; the daemon's bus outlives a pipeline rebuilt for a new rate. */
  events: EventBus<PipelineEvents>;
  /** Counters, shared across rebuilds too. */
  stats: PipelineStats;
  /** Wall clock of a window's end (a replayed record maps its own time here). */
  clock?: () => number;
}

/**
 * Frames in mV → streaming chain → rated windows → model (in its worker, one window at a time) →
 * decision, all of it as typed events (see events.ts); it knows nothing of MQTT, logs or files.
 * Latency is stamped from the ingress time of the frame that completed each window.
 */
export class Pipeline {
  readonly chain: EcgChain;
  readonly decider: EmotionDecider;
  readonly stats: PipelineStats;
  private inflight: Promise<void> = Promise.resolve();
  /** What the last decision was made with, and its window: an episode ended by finish() reports them. */
  private lastDecided: { context: EmotionContext; index: number } | null = null;
  private readonly events: EventBus<PipelineEvents>;

  constructor(private readonly o: PipelineOptions) {
    const c = o.config;
    this.stats = o.stats;
    this.events = o.events;
    this.chain = new EcgChain({
      inputRateHz: o.inputRateHz,
      spec: windowSpecOf(o.pkg.manifest),
      cleaning: cleaningFrom(c),
      thresholds: thresholdsFrom(c),
      maxFrame: c.dsp.frameSamples,
      maxDecisionDelayS: c.dsp.maxDecisionDelayS,
    });
    this.decider = new EmotionDecider(o.pkg.manifest.labels, c.decision);
    this.chain.onWindow = (w) => this.onWindow(w);
    const events = this.events;
    if (events.has('clean')) this.chain.onClean = (x, n) => events.emit('clean', x, n);
    if (events.has('beat')) this.chain.onBeat = (index) => events.emit('beat', index);
    events.emit('restart');
  }

  /** One frame as a source gives it; the chain cuts it into its own frame size. */
  push(frame: EcgFrame, ingressNs = process.hrtime.bigint()): void {
    this.chain.push(frame.mv, frame.length, frame.flags, ingressNs);
    this.stats.samples += frame.length;
  }

  /** Lost samples before the next push: windows spanning the gap are never usable. */
  gap(lost: number | null = null): void {
    this.chain.markGap();
    this.events.emit('gap', lost);
  }

  /** Resolves when the window in inference (if any) is done and decided. */
  drain(): Promise<void> {
    return this.inflight;
  }

  private onWindow(w: EcgWindow): void {
    this.stats.windows[w.quality]++;
    if (w.ingressNs) this.stats.dsp.record(Number(process.hrtime.bigint() - w.ingressNs) / 1e6);
    const endMs = (this.o.clock ?? Date.now)();
    const bounds = { startMs: endMs - (1000 * (w.endIndex - w.startIndex)) / w.sampleRateHz, endMs };
    const reasons = reasonNames(w.reasons);
    const start = w.startIndex;
    const end = w.endIndex;
    const hr = { ...w.heartRate };
    this.events.emit('window', { quality: w.quality, reasons, heartRate: hr, bounds, start, end });
    const outcome: WindowOutcome = {
      start,
      end,
      quality: w.quality,
      reasons,
      hrBpm: finite(round2(hr.meanBpm)),
      rmssdMs: finite(round2(hr.rmssdMs)),
    };
    if (w.quality === 'unusable') {
      this.events.emit('outcome', outcome);
      this.decide(null, w.quality, hr.meanBpm, bounds, 0, 0, end);
      return;
    }
    if (this.o.engine.busy) {
      this.stats.droppedBusy++; // real time beats completeness: the next window overlaps this one by 75 %
      this.events.emit('outcome', { ...outcome, skipped: true });
      return;
    }
    const samples = w.copySamples();
    const ingressNs = w.ingressNs;
    const quality = w.quality;
    this.inflight = this.o.engine.infer(samples).then(
      (r) => {
        const inferenceMs = r.inferenceNs / 1e6;
        const totalMs = ingressNs ? Number(process.hrtime.bigint() - ingressNs) / 1e6 : r.roundTripNs / 1e6;
        this.stats.inference.record(inferenceMs);
        this.stats.total.record(totalMs);
        this.events.emit('outcome', {
          ...outcome,
          p: Array.from(r.probabilities, (v) => Math.round(v * 1e4) / 1e4),
          inferenceMs: round2(inferenceMs),
          totalMs: round2(totalMs),
        });
        this.decide(r.probabilities, quality, hr.meanBpm, bounds, inferenceMs, totalMs, end);
      },
      (err: Error) => this.o.log.error({ err: err.message }, 'inference failed; window skipped'),
    );
  }

  private decide(
    probabilities: Float32Array | null,
    quality: EcgWindow['quality'],
    heartRateBpm: number,
    bounds: Bounds,
    inferenceMs: number,
    totalMs: number,
    index: number,
  ): void {
    const decisions = this.decider.push({ probabilities, quality, ...bounds });
    if (!decisions.length) return;
    const context = {
      heartRateBpm: finite(heartRateBpm),
      signalQuality: quality,
      model: modelRef(this.o.pkg.manifest),
      provider: this.o.engine.provider,
      inferenceMs,
      totalMs,
    };
    this.lastDecided = { context, index };
    this.emitDecisions(decisions);
  }

  /** After the last window of a record: its open episode ends (reason `source_ended`). */
  async finish(): Promise<void> {
    await this.inflight;
    this.emitDecisions(this.decider.finish());
  }

  private emitDecisions(decisions: EmotionDecision[]): void {
    if (!decisions.length || !this.lastDecided) return;
    const { context, index } = this.lastDecided;
    for (const decision of decisions) {
      this.stats.events[decision.type]++;
      this.events.emit('emotion', { decision, context, index, decidedNs: process.hrtime.bigint() });
    }
    const s = this.decider.state;
    this.events.emit('emotionState', s ? { ...s, confidence: decisions.at(-1)!.confidence } : null);
  }
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const round2 = (v: number) => Math.round(v * 100) / 100;
