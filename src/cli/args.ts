import { InvalidArgumentError } from 'commander';

/** A number option that must satisfy `ok`; the one-line error names the option and says what it takes. */
const checkedNumber =
  (name: string, ok: (n: number) => boolean, what: string) =>
  (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || !ok(n))
      throw new InvalidArgumentError(`${name} must be ${what}`);
    return n;
  };

/** Option parsers shared by the commands: each names the option in its one-line error. */
export const numberArg = (name: string) => checkedNumber(name, () => true, 'a number');
export const positiveArg = (name: string) => checkedNumber(name, (n) => n > 0, 'a positive number');
export const nonNegativeArg = (name: string) => checkedNumber(name, (n) => n >= 0, 'a number, 0 or more');
export const overlapArg = (name: string) =>
  checkedNumber(name, (n) => n >= 0 && n < 100, 'a percentage, 0 or more and under 100');
export const intArg = (name: string) =>
  checkedNumber(name, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
export const intRangeArg = (name: string, lo: number, hi: number) =>
  checkedNumber(name, (n) => Number.isInteger(n) && n >= lo && n <= hi, `a whole number from ${lo} to ${hi}`);

/** A URL option whose scheme is one of `schemes` (e.g. mqtt, mqtts); the one-line error names the option. */
export const urlArg =
  (name: string, schemes: string[]) =>
  (v: string): string => {
    let scheme = '';
    try {
      scheme = new URL(v).protocol.replace(/:$/, '');
    } catch {
      // not a URL at all
    }
    if (!schemes.includes(scheme)) {
      throw new InvalidArgumentError(`${name} must be a URL: ${schemes.map((s) => `${s}://…`).join(', ')}`);
    }
    return v;
  };

/** An MQTT topic prefix to subscribe under: whole levels, + for one level, no #. */
export const baseTopicArg =
  (name: string) =>
  (v: string): string => {
    const levels = v.split('/');
    if (!v || levels.some((l) => l === '' || l.includes('#') || (l.includes('+') && l !== '+'))) {
      throw new InvalidArgumentError(
        `${name} must be topic levels joined by /, + for a whole level, no # (e.g. ecg-emotiond/+)`,
      );
    }
    return v;
  };

export const listArg = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** For options that may be repeated. */
export const collectArg = (v: string, prev: string[] = []): string[] => [...prev, v];
