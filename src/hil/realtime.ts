import { spawnSync } from 'node:child_process';

/**
 * Moves this process's JavaScript thread (the one that paces and writes) to SCHED_FIFO at
 * `priority`, through util-linux's `chrt` since Node cannot call sched_setscheduler. A sleeping
 * normal-priority process can wake milliseconds late when the CPUs are busy or idle-halted; a
 * real-time one preempts the rest. Only this thread moves; libuv's and V8's helper threads stay
 * normal, provided the thread pool already exists (opening the port starts it), since new threads
 * inherit. Needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO (systemd's LimitRTPRIO=) of at least
 * `priority`. Returns null on success, else why not.
 */
export function enterRealtime(priority: number): string | null {
  const r = spawnSync('chrt', ['--fifo', '--pid', String(priority), String(process.pid)], {
    encoding: 'utf8',
  });
  if (r.error) return `chrt not found (${r.error.message})`;
  if (r.status !== 0) return r.stderr.trim().split('\n')[0] || `chrt exited with ${r.status}`;
  return null;
}
