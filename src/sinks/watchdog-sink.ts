import type { Logger } from '../log.js';
import type { EventBus, PipelineEvents } from '../pipeline/events.js';
import type { SdNotify } from './sd-notify.js';
import type { Sink } from './sink.js';

/**
 * Feeds the systemd watchdog on each liveness tick that finds the pipeline alive, and says once
 * when it stops being alive: then systemd restarts the service when WatchdogSec runs out.
 */
export class WatchdogSink implements Sink {
  constructor(
    private readonly sd: SdNotify,
    private readonly log: Logger,
  ) {}

  attach(events: EventBus<PipelineEvents>): void {
    let was = true;
    events.on('liveness', (alive) => {
      if (alive && this.sd.watchdogIntervalMs !== null) void this.sd.watchdog();
      if (was && !alive) this.log.warn('pipeline not alive: watchdog not fed');
      was = alive;
    });
  }
}
