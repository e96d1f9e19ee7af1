import type { EventBus, PipelineEvents } from '../pipeline/events.js';
import type { EventLogWriter } from '../report/event-log.js';
import type { Sink } from './sink.js';

/** The JSONL event log `report` reads: windows, decisions, gaps and (if asked) the cleaned ECG. */
export class EventLogSink implements Sink {
  constructor(private readonly log: EventLogWriter) {}

  attach(events: EventBus<PipelineEvents>): void {
    const log = this.log;
    events.on('restart', () => log.restart());
    events.on('clean', (x, n) => log.clean(x, n));
    events.on('beat', (index) => log.beat(index));
    events.on('gap', (lost) => log.gap(lost));
    events.on('outcome', ({ start, end, ...r }) => log.window(start, end, r));
    events.on('emotion', ({ decision: d, index }) =>
      log.event(index, {
        type: d.type,
        label: d.label,
        confidence: Math.round(d.confidence * 1e4) / 1e4,
        episodeId: d.episodeId,
        ...(d.reason ? { reason: d.reason } : {}),
      }),
    );
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
