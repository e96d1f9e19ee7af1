import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stderr (journald keeps them); one logger per process, children per component. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination(2),
  );
}
