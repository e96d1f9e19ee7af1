import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UnavailableError } from '../errors.js';
import { RecordError } from '../records/errors.js';
import { catalog, DATA_SETS, type DataFile } from './catalog.js';

export interface FetchOptions {
  /** The data folder (ecgDataDir()). */
  dir: string;
  /** Folders to fetch (mitdb, nstdb, …); all when empty. */
  sets: string[];
  /** One base URL holding the same folders, instead of PhysioNet's. */
  mirror?: string;
  log?: (line: string) => void;
}

export interface FetchResult {
  fetched: string[];
  /** Files already there with the listed sha256. */
  present: string[];
  bytes: number;
}

/** sha256 of a file, streamed. */
export async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/**
 * Downloads what is missing into `dir`, checking every file against the list; a broken download
 * resumes from its `.part` file (HTTP Range), and a file whose sha256 differs is refused (deleted).
 */
export async function fetchData(o: FetchOptions): Promise<FetchResult> {
  const unknown = o.sets.filter((s) => !DATA_SETS.includes(s));
  if (unknown.length)
    throw new UnavailableError(`no data set ${unknown.join(', ')} (sets: ${DATA_SETS.join(', ')})`);
  const files = catalog(o.mirror).filter((f) => !o.sets.length || o.sets.includes(f.path.split('/')[0]));
  const result: FetchResult = { fetched: [], present: [], bytes: 0 };
  for (const f of files) {
    const target = join(o.dir, f.path);
    if (existsSync(target) && (await sha256Of(target)) === f.sha256) {
      result.present.push(f.path);
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    const part = `${target}.part`;
    if ('repoFile' in f.source) await copyFile(f.source.repoFile, part);
    else await download(f.source.url, part, o.log);
    const got = await sha256Of(part);
    if (got !== f.sha256) {
      await rm(part, { force: true });
      throw new RecordError(
        'url' in f.source ? f.source.url : f.source.repoFile,
        `sha256 ${got.slice(0, 12)}… is not the listed ${f.sha256.slice(0, 12)}… for ${f.path}: refused`,
      );
    }
    await rename(part, target);
    const size = (await stat(target)).size;
    result.fetched.push(f.path);
    result.bytes += size;
    o.log?.(`fetched ${f.path} (${formatBytes(size)}, sha256 ok)`);
  }
  return result;
}

/** GET into `part`, continuing an earlier partial download when the server honours Range. */
async function download(url: string, part: string, log?: (line: string) => void): Promise<void> {
  const have = existsSync(part) ? (await stat(part)).size : 0;
  let res: Response;
  try {
    res = await fetch(url, { headers: have ? { Range: `bytes=${have}-` } : {} });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UnavailableError(`${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (res.status === 416 && have) return; // the part is already whole; its sha256 decides
  if (!res.ok || !res.body) throw new UnavailableError(`${url}: HTTP ${res.status} ${res.statusText}`);
  const resumed = res.status === 206;
  if (resumed) log?.(`resuming ${url} at ${formatBytes(have)}`);
  await pipeline(
    Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
    createWriteStream(part, { flags: resumed ? 'a' : 'w' }),
  );
}

export function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** Which listed files are missing from `dir` (by name; `data fetch` checks the contents). */
export function missingFiles(dir: string, files: DataFile[] = catalog()): string[] {
  return files.filter((f) => !existsSync(join(dir, f.path))).map((f) => f.path);
}
