import type { EventBus, PipelineEvents } from '../pipeline/events.js';

/** Something that consumes the pipeline's events. Adding one touches no other module. */
export interface Sink {
  /** Subscribes to the events it wants. */
  attach(events: EventBus<PipelineEvents>): void;
  /** Opens what it serves (a port, a connection) as the daemon starts; a failure stops the start. */
  start?(): Promise<void>;
  /** Flushes and releases what it holds (after the pipeline has drained). */
  close?(): Promise<void>;
}
