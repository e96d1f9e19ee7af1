import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RecordError } from './records/errors.js';

/** The project root (works from src/ under tsx and from dist/). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The bundled real recording the demo plays (drive06, 496 Hz, with its stress labels). */
export const DEMO_RECORD = join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt');

/** The shipped demo model (scripts/build-demo-model.sh builds it); the config's default `model.dir`. */
export const DEMO_MODEL_DIR = join(PROJECT_ROOT, 'models', 'driver-stress-drivedb');

/** The one command that gets the recordings, as the errors that miss them quote it. */
export const DATA_FETCH_HINT = 'get them with `npx ecg-emotiond data fetch` (or set ECG_DATA_DIR)';

/**
 * The PhysioNet recordings' folder, for commands, tests and benchmarks alike: $ECG_DATA_DIR, else
 * ../shared/data/ecg beside the checkout when it is there, else data/ecg in the project (where
 * `data fetch` puts them).
 */
export function ecgDataDir(): string {
  if (process.env.ECG_DATA_DIR) return resolve(process.env.ECG_DATA_DIR);
  const shared = join(PROJECT_ROOT, '..', 'shared', 'data', 'ecg');
  return existsSync(shared) ? shared : join(PROJECT_ROOT, 'data', 'ecg');
}

/** ecgDataDir(), refused in one line when it holds no recordings. */
export function sharedDataDir(): string {
  const dir = ecgDataDir();
  if (!existsSync(join(dir, 'mitdb')))
    throw new RecordError(dir, `no PhysioNet recordings here: ${DATA_FETCH_HINT}`);
  return dir;
}

/**
 * A worker thread's entry module beside the caller (`import.meta.url`): the compiled .js when it
 * is there, or the .ts source when run from src/.
 */
export function workerEntry(name: string, callerUrl: string): URL {
  const js = new URL(`./${name}.js`, callerUrl);
  return existsSync(fileURLToPath(js)) ? js : new URL(`./${name}.ts`, callerUrl);
}
