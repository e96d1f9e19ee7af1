import { spawn } from 'node:child_process';

/**
 * systemd's notify protocol (Type=notify): READY=1 after warm-up, WATCHDOG=1 while the pipeline is
 * alive, EXTEND_TIMEOUT_USEC while a TensorRT engine builds, STOPPING=1 on the way out. Node has no
 * Unix datagram sockets, so messages go through systemd's own `systemd-notify` (the unit sets
 * NotifyAccess=all so its messages count for this service). Outside systemd it does nothing.
 */
export class SdNotify {
  readonly enabled: boolean;
  /** Half of WatchdogSec, or null when systemd does not watch us. */
  readonly watchdogIntervalMs: number | null;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogIntervalMs = this.enabled && usec > 0 && forUs ? usec / 2000 : null;
  }

  /** Sends `KEY=value` lines; resolves when systemd-notify is done, never rejects. */
  notify(...lines: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve) => {
      const p = spawn('systemd-notify', [`--pid=${process.pid}`, ...lines], {
        env: this.env,
        stdio: 'ignore',
      });
      p.on('error', () => resolve());
      p.on('exit', () => resolve());
    });
  }

  ready(status: string): Promise<void> {
    return this.notify('READY=1', `STATUS=${status}`);
  }

  watchdog(): Promise<void> {
    return this.notify('WATCHDOG=1');
  }

  extendTimeout(ms: number): Promise<void> {
    return this.notify(`EXTEND_TIMEOUT_USEC=${Math.round(ms * 1000)}`);
  }

  stopping(): Promise<void> {
    return this.notify('STOPPING=1');
  }
}
