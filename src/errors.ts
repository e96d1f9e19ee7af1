/**
 * Something the command needs is not there or not usable: a broker that refuses the connection, a
 * folder that does not exist, a port in use. One line and exit code 6, not a stack trace.
 */
export class UnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/** System error codes that mean "not there or not usable" rather than a bug. */
const UNAVAILABLE_CODES = new Set([
  'ENOENT',
  'ENOTDIR',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'ETIMEDOUT',
]);

/** Whether an error is the environment's, to be reported in one line. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof UnavailableError) return true;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && UNAVAILABLE_CODES.has(code);
}
