import { InvalidArgumentError } from 'commander';

/** Option parsers shared by the commands: each names the option in its one-line error. */
export const numberArg =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };

export const intArg =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };

export const listArg = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** For options that may be repeated. */
export const collectArg = (v: string, prev: string[] = []): string[] => [...prev, v];
