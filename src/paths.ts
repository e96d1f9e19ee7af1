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

/** Shared PhysioNet recordings: $ECG_DATA_DIR, else ../shared/data/ecg beside the checkout. */
export function sharedDataDir(): string {
  const dir = process.env.ECG_DATA_DIR ?? join(PROJECT_ROOT, '..', 'shared', 'data', 'ecg');
  if (!existsSync(dir)) throw new RecordError(dir, 'shared ECG data not found here (set ECG_DATA_DIR)');
  return dir;
}
