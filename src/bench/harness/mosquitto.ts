import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * A real mosquitto for tests and benchmarks: loopback only, persistence on (so sessions and
 * queued messages survive a restart, as on a vehicle's broker), stoppable and restartable.
 */
export class Mosquitto {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The running broker's process id (for its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  static async create(dir: string, extra = ''): Promise<Mosquitto> {
    const port = await freePort();
    // Started as root, mosquitto drops to its own user: it must be able to write its persistence.
    await chmod(dir, 0o777);
    const conf = join(dir, 'mosquitto.conf');
    await writeFile(
      conf,
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\n${extra}`,
    );
    const m = new Mosquitto(port, conf);
    await m.start();
    return m;
  }

  async start(): Promise<void> {
    this.proc = spawn('mosquitto', ['-c', this.conf], { stdio: 'ignore' });
    const t0 = Date.now();
    for (;;) {
      const up = await new Promise<boolean>((r) => {
        const c = createConnection(this.port, '127.0.0.1');
        c.once('connect', () => (c.destroy(), r(true)));
        c.once('error', () => r(false));
      });
      if (up) return;
      if (Date.now() - t0 > 5000) throw new Error('mosquitto did not start (is it installed?)');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM stops it cleanly; SIGKILL is a crash (only what autosave wrote survives). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill(signal);
    });
  }
}
