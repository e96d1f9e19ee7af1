import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger, type Logger } from '../log.js';
import { Daemon, type Reconfigured } from './daemon.js';

/** Longest a SIGTERM may take: stop the source, finish the inference in flight, flush, `offline`. */
const STOP_LIMIT_MS = 2000;

/**
 * SIGHUP: re-reads the config file and applies what can change live, logging what it applied and
 * what needs a restart; an invalid file is logged and the running config kept (resolves null).
 */
export async function rereadConfig(
  daemon: Daemon,
  configFile: string | undefined,
  log: Logger,
): Promise<Reconfigured | null> {
  try {
    const next = await loadConfig(configFile);
    const r = daemon.reconfigure(next);
    log.info(
      { ...r, logLevel: next.log.level, decision: next.decision },
      `configuration re-read: ${r.applied.join(', ') || 'nothing'} applied` +
        (r.needsRestart.length ? `; ${r.needsRestart.join(', ')} need a restart` : ''),
    );
    return r;
  } catch (err) {
    log.error(
      { err: err instanceof ConfigError ? err.message : String(err) },
      'SIGHUP: config not applied, keeping the running one',
    );
    return null;
  }
}

/**
 * `ecg-emotiond run --config FILE`: the daemon until SIGTERM/SIGINT. SIGHUP re-reads the config and
 * applies what can change live (log level, decision); an invalid file is logged and the running
 * config kept.
 */
export async function runDaemon(configFile: string | undefined): Promise<void> {
  const config = await loadConfig(configFile);
  const log = createLogger(config.log.level);
  const daemon = await Daemon.open(config, { log, configName: configFile ?? '(defaults)' });
  try {
    await daemon.start();
  } catch (err) {
    await daemon.stop().catch(() => {});
    throw err;
  }
  process.on('SIGHUP', () => void rereadConfig(daemon, configFile, log));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const t0 = Date.now();
  const hardStop = setTimeout(() => {
    log.error(`shutdown took longer than ${STOP_LIMIT_MS / 1000} s; exiting`);
    process.exit(1);
  }, STOP_LIMIT_MS);
  hardStop.unref();
  await daemon.stop();
  log.info({ ms: Date.now() - t0, pending: daemon.outbox.depth }, 'stopped');
}
