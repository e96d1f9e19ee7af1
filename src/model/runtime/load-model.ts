import { isAbsolute, join } from 'node:path';
import { PROJECT_ROOT } from '../../paths.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { loadModelPackage, type ModelPackage } from '../package/model-package.js';
import { InferenceEngine, runnableOf } from './engine.js';
import { describeSkipped } from './session.js';
import { applyTensorRtEnv } from './tensorrt-env.js';

export const modelDirOf = (dir: string): string => (isAbsolute(dir) ? dir : join(PROJECT_ROOT, dir));

/**
 * Loads the configured model package (hash verified) and starts its inference worker on the first
 * execution provider that works, logging why each earlier one was skipped.
 */
export async function startModel(
  cfg: Config['model'],
  log: Logger,
): Promise<{ pkg: ModelPackage; engine: InferenceEngine }> {
  const pkg = await loadModelPackage(modelDirOf(cfg.dir));
  if (cfg.providers.includes('tensorrt')) {
    log.debug({ env: applyTensorRtEnv(cfg.tensorrt) }, 'TensorRT settings');
  }
  const engine = await InferenceEngine.start(runnableOf(pkg), {
    providers: cfg.providers,
    threads: cfg.threads,
    spinning: cfg.spinning,
  });
  const { absent, failed } = describeSkipped(engine.provider, engine.skipped);
  for (const s of engine.skipped)
    log.debug({ provider: s.provider, reason: s.reason }, 'execution provider skipped');
  if (absent) log.info({ skipped: engine.skipped.map((s) => s.provider) }, absent);
  for (const s of failed) {
    log.warn(
      { provider: s.provider, reason: s.reason },
      `execution provider ${s.provider} skipped: ${s.reason}`,
    );
  }
  const m = pkg.manifest;
  log.info(
    {
      model: m.name,
      version: m.version,
      precision: m.precision,
      provider: engine.provider,
      warmupMs: Math.round(engine.warmupMs),
    },
    `model ${m.name} ${m.version} (${m.precision}) running on ${engine.provider}`,
  );
  return { pkg, engine };
}
