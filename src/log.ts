import { fstatSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** syslog priority of each pino level: journald reads a `<N>` prefix as the line's PRIORITY. */
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/** The `<N>` prefix journald turns into PRIORITY, so `journalctl -p warning` finds warnings. */
export function journalPrefixed(line: string): string {
  const level = /"level":(\d+)/.exec(line);
  const p = level ? PRIORITY[Number(level[1])] : undefined;
  return p === undefined ? line : `<${p}>${line}`;
}

/** Whether stderr is the journal's stream itself (systemd sets JOURNAL_STREAM to its dev:inode). */
function stderrIsJournal(): boolean {
  const want = process.env.JOURNAL_STREAM;
  if (!want) return false;
  try {
    const st = fstatSync(2);
    return want === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/**
 * JSON lines on stderr, one logger per process, children per component. When stderr is the
 * journal, each line carries its syslog priority.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const journal = destination === undefined && stderrIsJournal();
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(journal ? { hooks: { streamWrite: journalPrefixed } } : {}),
    },
    destination ?? pino.destination(2),
  );
}
