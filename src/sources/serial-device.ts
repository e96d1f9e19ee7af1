import { readSync, writeSync } from 'node:fs';
import { autoDetect } from '@serialport/bindings-cpp';

/** The parts of serialport's Linux port binding used here, including its fd and epoll poller. */
interface PolledPort {
  fd: number | null;
  poller: { once(event: 'readable', cb: (err: Error | null) => void): void };
  write(b: Buffer): Promise<void>;
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A serial device (UART, USB CDC, rfcomm, pty) opened and configured by serialport's native
 * binding, read straight from its non-blocking fd when the binding's poller says it is readable.
 *
 * serialport's own stream reads through libuv's thread pool and retries on EAGAIN, two thread
 * hops per sensor frame; reading in the poll callback costs about half the CPU at 50 frames/s.
 */
export class SerialDevice {
  /** Bytes read; the view is reused for the next read, so copy what must outlive the call. */
  onData: (chunk: Uint8Array) => void = () => {};
  /** The device went away (unplug, hang-up) or failed; not called after close(). */
  onLost: (reason: string) => void = () => {};
  private closing = false;
  /** An asynchronous write still under way: later bytes queue behind it to keep their order. */
  private writing: Promise<void> | null = null;
  private readonly buf = Buffer.allocUnsafe(65536);

  private constructor(
    private readonly port: PolledPort,
    readonly path: string,
  ) {}

  static async open(path: string, baudRate: number): Promise<SerialDevice> {
    const port = (await autoDetect().open({ path, baudRate })) as unknown as PolledPort;
    const d = new SerialDevice(port, path);
    d.arm();
    return d;
  }

  /**
   * Writes now with write(2) on the non-blocking fd, so a replayer's frame leaves at its deadline
   * rather than after a thread-pool hop; what the kernel cannot take yet is written asynchronously.
   */
  write(b: Uint8Array): Promise<void> {
    let off = 0;
    const fd = this.port.fd;
    if (!this.writing && fd !== null) {
      try {
        while (off < b.length) off += writeSync(fd, b, off, b.length - off);
        return Promise.resolve();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') return Promise.reject(e as Error);
      }
    }
    const rest = Buffer.from(b.subarray(off)); // a copy: the caller may reuse its buffer meanwhile
    const w: Promise<void> = (this.writing ?? Promise.resolve())
      .then(() => this.port.write(rest))
      .finally(() => {
        if (this.writing === w) this.writing = null;
      });
    this.writing = w;
    return w;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.port.drain().catch(() => {});
    await this.port.close().catch(() => {});
  }

  private arm(): void {
    this.port.poller.once('readable', (err) => {
      if (this.closing) return;
      if (err) return this.lose(err.message);
      if (this.drainFd()) this.arm();
    });
  }

  /** Reads until the fd would block; false when the device is gone. */
  private drainFd(): boolean {
    for (;;) {
      const fd = this.port.fd;
      if (fd === null || this.closing) return false;
      let n: number;
      try {
        n = readSync(fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return true;
        this.lose(code ?? String(e)); // EIO after a hang-up, ENXIO after a USB unplug
        return false;
      }
      if (n === 0) {
        this.lose('end of file (hang-up)');
        return false;
      }
      this.onData(this.buf.subarray(0, n));
    }
  }

  private lose(reason: string): void {
    void this.close().then(() => this.onLost(reason));
  }
}
