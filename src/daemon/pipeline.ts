import { EcgChain } from '../dsp/chain.js';
import { LatencyStats } from './latency.js';
import { reasonNames } from '../dsp/quality.js';
import type { EcgWindow } from '../dsp/windower.js';
import { EmotionDecider } from '../decision/decider.js';
import type { Config } from '../config/schema.js';
import { cleaningFrom, thresholdsFrom } from '../config/dsp-options.js';
import type { Logger } from '../log.js';
import type { ModelPackage } from '../model/package/model-package.js';
import { windowSpecOf } from '../model/package/model-package.js';
import type { InferenceEngine } from '../model/runtime/engine.js';
import type { MqttPublisher } from '../publish/mqtt-publisher.js';
import type { EventLogWriter } from '../report/event-log.js';
import {
  emotionPayload,
  emotionStatePayload,
  heartRatePayload,
  modelRef,
  signalQualityPayload,
  vssHeartRatePayload,
} from '../publish/payloads.js';

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
  /** From a decision to its event stored in the outbox (as the fsync policy says). */
  publish: LatencyStats;
  /** From the ingress of the frame that completed a window to its decision being published. */
  total: LatencyStats;
}

/**
 * The daemon's data flow after the source: samples → streaming chain → rated windows → model (in
 * its worker, one window at a time) → decision → payloads → outbox/MQTT. Latency is stamped from
 * the ingress time of the frame that completed each window.
 */
export class Pipeline {
  readonly chain: EcgChain;
  readonly decider: EmotionDecider;
  readonly stats: PipelineStats = {
    samples: 0,
    windows: { good: 0, acceptable: 0, unusable: 0 },
    droppedBusy: 0,
    events: { new: 0, update: 0, end: 0 },
    dsp: new LatencyStats(),
    inference: new LatencyStats(),
    publish: new LatencyStats(),
    total: new LatencyStats(),
  };
  private inflight: Promise<void> = Promise.resolve();
  private readonly x: Float64Array;
  private readonly flags: Uint8Array;

  constructor(
    private readonly o: {
      config: Config;
      inputRateHz: number;
      pkg: ModelPackage;
      engine: InferenceEngine;
      publisher: MqttPublisher;
      log: Logger;
      /** Wall clock of a window's end (a replayed record maps its own time here). */
      clock?: () => number;
      /** Where windows, decisions and the cleaned ECG are logged for `report`. */
      eventLog?: EventLogWriter | null;
    },
  ) {
    const c = o.config;
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
    const eventLog = o.eventLog;
    if (eventLog) {
      eventLog.restart();
      this.chain.onClean = (x, n) => eventLog.clean(x, n);
      this.chain.onBeat = (index) => eventLog.beat(index);
    }
    this.x = new Float64Array(c.dsp.frameSamples);
    this.flags = new Uint8Array(c.dsp.frameSamples);
  }

  /** Samples in mV with per-sample flags, as a source decoded them. */
  push(mv: ArrayLike<number>, flags: ArrayLike<number> | null, ingressNs = process.hrtime.bigint()): void {
    const f = this.o.config.dsp.frameSamples;
    for (let i = 0; i < mv.length; i += f) {
      const n = Math.min(f, mv.length - i);
      for (let k = 0; k < n; k++) {
        this.x[k] = mv[i + k];
        this.flags[k] = flags ? flags[i + k] : 0;
      }
      this.chain.push(this.x, n, this.flags, ingressNs);
    }
    this.stats.samples += mv.length;
  }

  /** Lost samples before the next push: windows spanning the gap are never usable. */
  gap(lost: number | null = null): void {
    this.chain.markGap();
    this.o.eventLog?.gap(lost);
  }

  /** Resolves when the window in inference (if any) is done and published. */
  drain(): Promise<void> {
    return this.inflight;
  }

  private onWindow(w: EcgWindow): void {
    this.stats.windows[w.quality]++;
    if (w.ingressNs) this.stats.dsp.record(Number(process.hrtime.bigint() - w.ingressNs) / 1e6);
    const endMs = (this.o.clock ?? Date.now)();
    const bounds = { startMs: endMs - (1000 * (w.endIndex - w.startIndex)) / w.sampleRateHz, endMs };
    const pub = this.o.publisher;
    const reasons = reasonNames(w.reasons);
    void pub.publish('signal_quality', signalQualityPayload(w.quality, reasons, bounds));
    if (w.quality !== 'unusable' && Number.isFinite(w.heartRate.meanBpm)) {
      const hr = w.heartRate;
      void pub.publish(
        'heart_rate',
        heartRatePayload(
          {
            bpm: hr.meanBpm,
            rmssdMs: finite(hr.rmssdMs),
            sdnnMs: finite(hr.sdnnMs),
            pnn50: finite(hr.pnn50),
            nnIntervals: hr.nnIntervals,
          },
          bounds,
        ),
      );
      if (this.o.config.mqtt.vssMirror)
        void pub.publish('vss/Vehicle.Driver.HeartRate', vssHeartRatePayload(hr.meanBpm));
    }
    const logged = {
      quality: w.quality,
      reasons,
      hrBpm: finite(round2(w.heartRate.meanBpm)),
      rmssdMs: finite(round2(w.heartRate.rmssdMs)),
    };
    const span = { start: w.startIndex, end: w.endIndex };
    if (w.quality === 'unusable') {
      this.o.eventLog?.window(span.start, span.end, logged);
      this.decide(null, w, bounds, 0, 0, span.end);
      return;
    }
    if (this.o.engine.busy) {
      this.stats.droppedBusy++; // real time beats completeness: the next window overlaps this one by 75 %
      this.o.eventLog?.window(span.start, span.end, { ...logged, skipped: true });
      return;
    }
    const samples = w.copySamples();
    const ingressNs = w.ingressNs;
    const meta = { quality: w.quality, hr: w.heartRate.meanBpm };
    this.inflight = this.o.engine.infer(samples).then(
      (r) => {
        const inferenceMs = r.inferenceNs / 1e6;
        const totalMs = ingressNs ? Number(process.hrtime.bigint() - ingressNs) / 1e6 : r.roundTripNs / 1e6;
        this.stats.inference.record(inferenceMs);
        this.stats.total.record(totalMs);
        this.o.eventLog?.window(span.start, span.end, {
          ...logged,
          p: Array.from(r.probabilities, (v) => Math.round(v * 1e4) / 1e4),
          inferenceMs: round2(inferenceMs),
          totalMs: round2(totalMs),
        });
        this.decide(
          r.probabilities,
          { ...meta, heartRate: { meanBpm: meta.hr } },
          bounds,
          inferenceMs,
          totalMs,
          span.end,
        );
      },
      (err: Error) => this.o.log.error({ err: err.message }, 'inference failed; window skipped'),
    );
  }

  private decide(
    probabilities: Float32Array | null,
    w: { quality: EcgWindow['quality']; heartRate: { meanBpm: number } },
    bounds: { startMs: number; endMs: number },
    inferenceMs: number,
    totalMs: number,
    endIndex: number,
  ): void {
    const m = this.o.pkg.manifest;
    const decisions = this.decider.push({ probabilities, quality: w.quality, ...bounds });
    for (const d of decisions) {
      this.stats.events[d.type]++;
      this.o.eventLog?.event(endIndex, {
        type: d.type,
        label: d.label,
        confidence: Math.round(d.confidence * 1e4) / 1e4,
        episodeId: d.episodeId,
        ...(d.reason ? { reason: d.reason } : {}),
      });
      const decidedNs = process.hrtime.bigint();
      void this.o.publisher
        .publish(
          'emotion',
          emotionPayload(d, {
            heartRateBpm: finite(w.heartRate.meanBpm),
            signalQuality: w.quality,
            model: modelRef(m),
            provider: this.o.engine.provider,
            inferenceMs,
            totalMs,
          }),
        )
        .then((id) => {
          if (id !== null) this.stats.publish.record(Number(process.hrtime.bigint() - decidedNs) / 1e6);
        });
    }
    if (decisions.length) {
      const s = this.decider.state;
      const conf = decisions.at(-1)!.confidence;
      void this.o.publisher.publish(
        'emotion/state',
        emotionStatePayload(s ? { ...s, confidence: conf } : null),
      );
    }
  }
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const round2 = (v: number) => Math.round(v * 100) / 100;
