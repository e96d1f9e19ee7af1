import type { SampleFrame } from '../protocols/types.js';
import { CanChannel } from './can-channel.js';
import type { SourceState, SourceStats, WireSource } from './source.js';

/** The part of the `socketcan` package's raw channel this source uses. */
export interface RawChannel {
  addListener(
    event: 'onMessage',
    cb: (msg: { id: number; data: Buffer; ext?: boolean; rtr?: boolean }) => void,
  ): void;
  addListener(event: 'onStopped', cb: () => void): void;
  start(): void;
  stop(): void;
}
export interface SocketCanModule {
  createRawChannel(iface: string, timestamps?: boolean): RawChannel;
}

export interface SocketCanOptions {
  /** can0 / mttcan on a Jetson, vcan0 on a test bench. */
  iface: string;
  silenceMs?: number;
  retryMs?: number;
  maxRetryMs?: number;
}

/** The optional `socketcan` package, imported only when a CAN source is configured. */
export async function loadSocketCan(): Promise<SocketCanModule> {
  try {
    const name = 'socketcan'; // not a static import: the package is optional and native
    const m = (await import(name)) as SocketCanModule & { default?: SocketCanModule };
    return m.default ?? m;
  } catch (err) {
    throw new Error(
      `SocketCAN needs the optional "socketcan" package built for this machine (npm install socketcan; see hw/can/README.md): ${(err as Error).message.split('\n')[0]}`,
    );
  }
}

/**
 * ECG from the sensor on a SocketCAN interface. A missing package or interface, or an interface
 * that goes down, is `disconnected` with the reason and retried with capped backoff; never thrown.
 */
export class SocketCanSource implements WireSource {
  private readonly channel = new CanChannel();
  private raw: RawChannel | null = null;
  private retry: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private delayMs: number;
  private stopped = false;
  private opened = false;

  constructor(
    private readonly o: SocketCanOptions,
    private readonly load: () => Promise<SocketCanModule> = loadSocketCan,
  ) {
    this.delayMs = o.retryMs ?? 100;
  }

  set onFrame(f: (frame: SampleFrame, arrivalNs: bigint) => void) {
    this.channel.onFrame = f;
  }
  get onFrame(): (frame: SampleFrame, arrivalNs: bigint) => void {
    return this.channel.onFrame;
  }
  set onGap(f: (lost: number | null) => void) {
    this.channel.onGap = f;
  }
  get onGap(): (lost: number | null) => void {
    return this.channel.onGap;
  }
  set onState(f: (state: SourceState, detail: string) => void) {
    this.channel.onState = f;
  }
  get onState(): (state: SourceState, detail: string) => void {
    return this.channel.onState;
  }
  get state(): SourceState {
    return this.channel.state;
  }
  get stats(): SourceStats {
    return this.channel.stats;
  }

  start(): void {
    this.stopped = false;
    const silenceMs = this.o.silenceMs ?? 1000;
    this.silenceTimer = setInterval(() => this.channel.checkSilence(silenceMs), Math.min(250, silenceMs));
    this.silenceTimer.unref();
    void this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    const raw = this.raw;
    this.raw = null;
    try {
      raw?.stop();
    } catch {
      // already down
    }
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    try {
      const mod = await this.load();
      const raw = mod.createRawChannel(this.o.iface, true);
      raw.addListener('onMessage', (msg) => {
        if (msg.ext || msg.rtr) return; // the sensor uses standard data frames
        this.channel.receive({ id: msg.id, data: msg.data });
      });
      raw.addListener('onStopped', () => {
        if (this.raw !== raw || this.stopped) return;
        this.raw = null;
        this.down(`${this.o.iface} stopped (interface down?)`);
      });
      raw.start();
      this.raw = raw;
      if (this.opened) this.channel.reconnects++;
      this.opened = true;
      this.delayMs = this.o.retryMs ?? 100;
      this.channel.setState('silent', `${this.o.iface} open, waiting for frames`);
    } catch (err) {
      const why = (err as Error).message;
      this.down(why.includes(this.o.iface) ? why : `${this.o.iface}: ${why}`);
    }
  }

  private down(reason: string): void {
    this.channel.setState('disconnected', reason);
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.open();
    }, this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, this.o.maxRetryMs ?? 1000);
  }
}
