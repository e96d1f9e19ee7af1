import { bitalinoRateCommand, bitalinoStartCommand, BITALINO_STOP } from '../protocols/bitalino.js';
import { SLCAN_CLOSE, SLCAN_OPEN_500K } from '../protocols/can.js';
import type { SerialProtocol, StreamDecoder } from '../protocols/types.js';
import { type DecoderOptions, decoderFor } from './decoders.js';
import { SerialDevice } from './serial-device.js';
import { SourceBase, type SourceStats, type WireSource } from './source.js';

export interface SerialSourceOptions extends DecoderOptions {
  path: string;
  baudRate: number;
  protocol: SerialProtocol;
  /** No byte for this long: `silent`. */
  silenceMs?: number;
  /** Reconnect backoff: doubles from the first to the cap. */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * ECG from a serial device (UART, USB CDC, Bluetooth SPP, or a pty on a test bench). Opens the
 * path and reopens it after an unplug with capped backoff, never giving up and never throwing to
 * the caller. The path is opened directly: SerialPort.list() is never called (it spawns udevadm).
 */
export class SerialSource extends SourceBase implements WireSource {
  private readonly decoder: StreamDecoder;
  private port: SerialDevice | null = null;
  private retry: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private delayMs: number;
  private lastByteNs = 0n;
  private arrivalNs = 0n;
  private stopped = false;
  private bytes = 0;
  private everConnected = false;
  private reopened = false;

  constructor(private readonly o: SerialSourceOptions) {
    super();
    this.delayMs = o.retryMs ?? 100;
    this.decoder = decoderFor(o.protocol, o);
    this.decoder.onFrame = (f) => {
      const lost = this.sequence.check(f, this.arrivalNs);
      if (lost > 0) this.onGap(lost);
      else if (this.reopened && f.seq === null) this.onGap(null); // no sequence numbers: size unknown
      this.reopened = false;
      this.onFrame(f, this.arrivalNs);
    };
  }

  get stats(): SourceStats {
    return this.statsWith(this.decoder.stats, this.bytes);
  }

  start(): void {
    this.stopped = false;
    const silenceMs = this.o.silenceMs ?? 1000;
    this.silenceTimer = setInterval(
      () => {
        if (this.state !== 'connected') return;
        if (Number(process.hrtime.bigint() - this.lastByteNs) / 1e6 > silenceMs)
          this.setState('silent', `no data for ${silenceMs} ms`);
      },
      Math.min(250, silenceMs),
    );
    this.silenceTimer.unref();
    this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    const port = this.port;
    this.port = null;
    if (port) {
      const bye =
        this.o.protocol === 'bitalino'
          ? Uint8Array.of(BITALINO_STOP)
          : this.o.protocol === 'slcan'
            ? Buffer.from(SLCAN_CLOSE, 'latin1')
            : null;
      if (bye) await port.write(bye).catch(() => {});
      await port.close();
    }
  }

  private open(): void {
    if (this.stopped) return;
    SerialDevice.open(this.o.path, this.o.baudRate).then(
      (port) => {
        if (this.stopped) {
          void port.close();
          return;
        }
        this.port = port;
        this.delayMs = this.o.retryMs ?? 100;
        if (this.everConnected) {
          this.reconnects++;
          this.reopened = true;
        }
        this.everConnected = true;
        // Sequence tracking carries on across the reconnect: frames the sensor sent meanwhile are a gap.
        this.lastByteNs = process.hrtime.bigint();
        port.onData = (chunk) => {
          this.arrivalNs = process.hrtime.bigint();
          this.lastByteNs = this.arrivalNs;
          this.bytes += chunk.length;
          if (this.state === 'silent') this.setState('connected', 'data again');
          this.decoder.push(chunk);
        };
        port.onLost = (reason) => {
          if (this.port !== port) return;
          this.port = null;
          if (this.stopped) return;
          this.setState('disconnected', `${this.o.path} closed (${reason}; unplugged?)`);
          this.scheduleReopen();
        };
        this.setState('connected', `${this.o.path} open at ${this.o.baudRate} baud`);
        this.greet(port);
      },
      (err: Error) => {
        this.setState('disconnected', err.message);
        this.scheduleReopen();
      },
    );
  }

  /** Devices that stream only when asked. */
  private greet(port: SerialDevice): void {
    const hello =
      this.o.protocol === 'bitalino'
        ? Uint8Array.of(
            bitalinoRateCommand(this.o.bitalinoRateHz ?? 1000),
            bitalinoStartCommand(this.o.bitalinoChannels ?? [1]),
          )
        : this.o.protocol === 'slcan'
          ? Buffer.from(SLCAN_OPEN_500K, 'latin1')
          : null;
    // A failed write means the device is going away: its read side reports that.
    if (hello) port.write(hello).catch(() => {});
  }

  private scheduleReopen(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.open();
    }, this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, this.o.maxRetryMs ?? 1000);
  }
}
