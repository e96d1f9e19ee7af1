import { spawn } from 'node:child_process';
import { write } from 'node:fs';

/**
 * systemd's notify protocol (Type=notify): READY=1 after warm-up, WATCHDOG=1 while the pipeline is
 * alive, EXTEND_TIMEOUT_USEC while a TensorRT engine builds, STOPPING=1 on the way out.
 *
 * Node has no Unix datagram sockets, so the launcher (`bin/ecg-emotiond`) connects one to
 * NOTIFY_SOCKET before it execs Node and names it in ECG_EMOTIOND_NOTIFY_FD; each message is then
 * one write on it from this process, which NotifyAccess=main accepts, and a ping costs no process.
 * Started some other way, each message goes through `systemd-notify` (that needs NotifyAccess=all).
 * Outside systemd it does nothing.
 */
export class SdNotify {
  readonly enabled: boolean;
  /** Half of WatchdogSec, or null when systemd does not watch us. */
  readonly watchdogIntervalMs: number | null;
  /** The launcher's socket, or null: messages go through systemd-notify. */
  private readonly fd: number | null;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    const fd = Number(env.ECG_EMOTIOND_NOTIFY_FD);
    this.fd = this.enabled && Number.isInteger(fd) && fd > 2 ? fd : null;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogIntervalMs = this.enabled && usec > 0 && forUs ? usec / 2000 : null;
  }

  /** Sends `KEY=value` lines; resolves once sent (or failed: systemd may be gone), never rejects. */
  notify(...lines: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    if (this.fd === null) return this.spawnNotify(lines);
    const fd = this.fd;
    const message = Buffer.from(lines.join('\n'));
    return new Promise((resolve) => write(fd, message, () => resolve()));
  }

  private spawnNotify(lines: string[]): Promise<void> {
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
