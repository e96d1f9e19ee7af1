/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  Ok: 0,
  /** The command ran and its result is a failure (e.g. a check did not pass). */
  Failed: 1,
  /** Bad command line. */
  Usage: 2,
  /** Configuration invalid or unreadable. */
  Config: 3,
  /** Input record/file missing, truncated or malformed. */
  Input: 4,
  /** Model package or weights invalid (hash mismatch, bad manifest, missing or mis-shaped keys). */
  Model: 5,
  /** A device, folder, port or broker the command needs is not there or not usable. */
  Unavailable: 6,
} as const;
