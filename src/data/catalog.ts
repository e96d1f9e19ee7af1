import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../paths.js';

/** One file of the recordings the README, tests and benchmarks use, and where it comes from. */
export interface DataFile {
  /** Path inside the data folder, e.g. `mitdb/100.dat`. */
  path: string;
  sha256: string;
  /** Where it is downloaded from, or the file in this repository it is copied from (derived labels). */
  source: { url: string } | { repoFile: string };
}

/** Each folder of the data set and where its files are published. */
const ORIGINS: Record<string, { about: string; base: string }> = {
  mitdb: { about: 'MIT-BIH Arrhythmia (25 records)', base: 'https://physionet.org/files/mitdb/1.0.0/' },
  nstdb: { about: 'MIT-BIH Noise Stress Test', base: 'https://physionet.org/files/nstdb/1.0.0/' },
  drivedb: { about: 'driver stress (drive05, drive06)', base: 'https://physionet.org/files/drivedb/1.0.0/' },
  eegmat: { about: 'an EDF with an ECG channel', base: 'https://physionet.org/files/eegmat/1.0.0/' },
  wfdb: {
    about: 'WFDB format edge cases (wfdb-python sample data)',
    base: 'https://raw.githubusercontent.com/MIT-LCP/wfdb-python/main/sample-data/',
  },
};

/** Derived label files this repository carries (PhysioNet has the signals, not these tables). */
const LABELS_DIR = join(PROJECT_ROOT, 'data', 'labels');

/** nstdb's clean record 118 is MIT-BIH's own 118. */
const sourceName = (folder: string, name: string) =>
  folder === 'nstdb' && /^118\.(dat|hea|atr)$/.test(name)
    ? `https://physionet.org/files/mitdb/1.0.0/${name}`
    : ORIGINS[folder].base + name;

export const DATA_SETS = Object.keys(ORIGINS);

export const describeSet = (set: string) => ORIGINS[set]?.about ?? set;

/**
 * The files, from `data/SHA256SUMS` (the shared data's own list). `mirror` replaces every
 * origin with one base URL holding the same folders (a local or company mirror).
 */
export function catalog(mirror?: string): DataFile[] {
  const sums = readFileSync(join(PROJECT_ROOT, 'data', 'SHA256SUMS'), 'utf8');
  const files: DataFile[] = [];
  for (const line of sums.split('\n')) {
    const m = /^([0-9a-f]{64})\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const [, sha256, path] = m;
    const [folder, name] = path.split('/');
    const source = /_segments\.csv$|^marker_info\.csv$/.test(name)
      ? { repoFile: join(LABELS_DIR, path) }
      : { url: mirror ? `${mirror.replace(/\/?$/, '/')}${path}` : sourceName(folder, name) };
    files.push({ path, sha256, source });
  }
  return files;
}
