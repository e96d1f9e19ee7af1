import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

/** The one call of node-unix-socket's DgramSocket used here. */
interface DatagramSocket {
  sendTo(buf: Buffer, offset: number, length: number, path: string, done: (err?: Error) => void): void;
  close(): void;
}

/** A Unix datagram socket (Node has none built in), or null where the native module is missing. */
export function datagramSocket(): DatagramSocket | null {
  try {
    const { DgramSocket } = createRequire(import.meta.url)('node-unix-socket') as {
      DgramSocket: new () => DatagramSocket;
    };
    return new DgramSocket();
  } catch {
    return null;
  }
}

/**
 * systemd's notify protocol (Type=notify): READY=1 after warm-up, WATCHDOG=1 while the pipeline is
 * alive, EXTEND_TIMEOUT_USEC while a TensorRT engine builds, STOPPING=1 on the way out. Messages
 * are datagrams from this process itself, so the unit's NotifyAccess=main accepts them and a ping
 * costs no process. Where that cannot be done (an abstract `@` socket, which the native module
 * cannot address, or no prebuilt module for the platform) each message goes through
 * `systemd-notify`, which needs NotifyAccess=all. Outside systemd it does nothing.
 */
export class SdNotify {
  readonly enabled: boolean;
  /** Half of WatchdogSec, or null when systemd does not watch us. */
  readonly watchdogIntervalMs: number | null;
  private readonly path: string;
  /** Opened at the first message; null: messages go through systemd-notify. */
  private socket: DatagramSocket | null | undefined;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {
    this.path = env.NOTIFY_SOCKET ?? '';
    this.enabled = this.path !== '';
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogIntervalMs = this.enabled && usec > 0 && forUs ? usec / 2000 : null;
  }

  /** How messages leave: a datagram from this process, or a systemd-notify per message. */
  get via(): 'socket' | 'systemd-notify' {
    this.socket ??= this.path.startsWith('/') ? datagramSocket() : null;
    return this.socket ? 'socket' : 'systemd-notify';
  }

  /** Sends `KEY=value` lines; resolves once sent (or failed: systemd may be gone), never rejects. */
  notify(...lines: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    if (this.via === 'systemd-notify') return this.spawnNotify(lines);
    const message = Buffer.from(lines.join('\n'));
    return new Promise((resolve) =>
      this.socket!.sendTo(message, 0, message.length, this.path, () => resolve()),
    );
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

  /** Says STOPPING=1 and releases the socket. */
  async stopping(): Promise<void> {
    await this.notify('STOPPING=1');
    this.close();
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
