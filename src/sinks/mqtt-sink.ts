import type { EventBus, PipelineEvents } from '../pipeline/events.js';
import { LatencyStats } from '../pipeline/latency.js';
import type { MqttPublisher } from '../publish/mqtt-publisher.js';
import {
  emotionPayload,
  emotionStatePayload,
  heartRatePayload,
  signalQualityPayload,
  statsPayload,
  vssHeartRatePayload,
} from '../publish/payloads.js';
import type { Sink } from './sink.js';

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * The MQTT contract's topics from the pipeline's events, through the publisher's durable outbox:
 * `signal_quality` for every window, `heart_rate` (and the VSS mirror) for usable ones, `emotion`
 * for each decision, `emotion/state` after them, and `stats`.
 */
export class MqttSink implements Sink {
  /** From a decision to its event stored in the outbox (as the fsync policy says). */
  readonly publishLatency = new LatencyStats();

  constructor(
    private readonly publisher: MqttPublisher,
    private readonly o: { vssMirror: boolean },
  ) {}

  attach(events: EventBus<PipelineEvents>): void {
    const pub = this.publisher;
    events.on('window', (w) => {
      void pub.publish('signal_quality', signalQualityPayload(w.quality, w.reasons, w.bounds));
      const hr = w.heartRate;
      if (w.quality === 'unusable' || !Number.isFinite(hr.meanBpm)) return;
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
          w.bounds,
        ),
      );
      if (this.o.vssMirror) void pub.publish('vss/Vehicle.Driver.HeartRate', vssHeartRatePayload(hr.meanBpm));
    });
    events.on('emotion', (e) => {
      void pub.publish('emotion', emotionPayload(e.decision, e.context)).then((id) => {
        if (id !== null) this.publishLatency.record(Number(process.hrtime.bigint() - e.decidedNs) / 1e6);
      });
    });
    events.on('emotionState', (s) => void pub.publish('emotion/state', emotionStatePayload(s)));
    events.on('stats', (s) => void pub.publish('stats', statsPayload(s)));
  }
}
