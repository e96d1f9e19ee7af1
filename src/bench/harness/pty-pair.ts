import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PtyPair {
  a: string;
  b: string;
  /** Kills socat: both ends vanish, as when a USB adapter is unplugged. */
  stop(): Promise<void>;
}

/** A real pseudo-terminal pair from socat, linked at <dir>/a and <dir>/b. */
export async function ptyPair(dir: string): Promise<PtyPair> {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const proc: ChildProcess = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: 'ignore',
  });
  const t0 = Date.now();
  while (!(existsSync(a) && existsSync(b))) {
    if (Date.now() - t0 > 5000) throw new Error('socat did not create the pty pair (is socat installed?)');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    a,
    b,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
