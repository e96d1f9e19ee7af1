import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks a second in /proc's times (USER_HZ on Linux). */
export const TICK = 100;

/** CPU ticks (user + system) a process has used: its main thread's, and all its threads'. */
export async function threadTicks(pid: number): Promise<{ main: number; all: number }> {
  let all = 0;
  let main = 0;
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime
    if (!Number.isFinite(ticks)) continue;
    all += ticks;
    if (Number(tid) === pid) main = ticks;
  }
  return { main, all };
}
