import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ecgDataDir } from '../paths.js';
import { wfdbBase } from './wfdb.js';

/** Whether a record (WFDB without extension, or a file, or a folder of records) exists at `path`. */
const exists = (path: string) => existsSync(path) || existsSync(`${wfdbBase(path)}.hea`);

/**
 * A record as the user named it: the path itself when it is there, else the same name inside the
 * data folder (`mitdb/100` → <data>/mitdb/100), so the README's names work from any folder.
 */
export function resolveRecord(path: string): string {
  if (exists(path) || isAbsolute(path)) return path;
  const inData = join(ecgDataDir(), path);
  return exists(inData) ? inData : path;
}
