import type { Command } from 'commander';
import { RecordError } from '../records/errors.js';
import { DATA_FETCH_HINT, ecgDataDir } from '../paths.js';

/** `data fetch` and `data check`: the PhysioNet recordings the README, tests and benchmarks use. */
export function addDataCommands(program: Command): void {
  const data = program
    .command('data')
    .description('the PhysioNet recordings the examples, tests and benchmarks use');
  data
    .command('fetch')
    .description('download the recordings (or the named sets), check each sha256, resume broken downloads')
    .argument('[sets...]', 'mitdb, nstdb, drivedb, eegmat, wfdb (default: all)')
    .option('--dir <dir>', 'data folder (default: $ECG_DATA_DIR, ../shared/data/ecg, or data/ecg here)')
    .option('--mirror <url>', 'a base URL with the same folders, instead of PhysioNet')
    .action(async (sets: string[], o: { dir?: string; mirror?: string }) => {
      const { fetchData, formatBytes } = await import('../data/fetch.js');
      const { describeSet } = await import('../data/catalog.js');
      const dir = o.dir ?? ecgDataDir();
      const log = (l: string) => process.stdout.write(`${l}\n`);
      log(
        `data folder ${dir}${sets.length ? `: ${sets.map((s) => `${s} (${describeSet(s)})`).join(', ')}` : ''}`,
      );
      const r = await fetchData({ dir, sets, mirror: o.mirror, log });
      log(
        `${r.fetched.length} files fetched (${formatBytes(r.bytes)}), ${r.present.length} already there; every sha256 as listed`,
      );
    });
  data
    .command('check')
    .description('whether the data folder holds every listed recording (by name; fetch checks contents)')
    .action(async () => {
      const { missingFiles } = await import('../data/fetch.js');
      const dir = ecgDataDir();
      const missing = missingFiles(dir);
      if (missing.length)
        throw new RecordError(
          dir,
          `${missing.length} recordings missing (${missing.slice(0, 3).join(', ')}…): ${DATA_FETCH_HINT}`,
        );
      process.stdout.write(`data folder ${dir}: every listed recording is there\n`);
    });
}
