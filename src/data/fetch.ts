import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { get as httpGet, type ClientRequest, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
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
  /** A server silent this long (before or during a body) fails the fetch, named. Default 30 s. */
  stallMs?: number;
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
    else await download(f.source.url, part, o.stallMs ?? STALL_MS, o.log);
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

const STALL_MS = 30_000;

/** GET into `part`, continuing an earlier partial download when the server honours Range. */
async function download(
  url: string,
  part: string,
  stallMs: number,
  log?: (line: string) => void,
): Promise<void> {
  const have = existsSync(part) ? (await stat(part)).size : 0;
  const res = await get(url, have ? { Range: `bytes=${have}-` } : {}, stallMs);
  if (res.statusCode === 416 && have) return void res.resume(); // the part is already whole; its sha256 decides
  if (res.statusCode !== 200 && res.statusCode !== 206) {
    res.resume();
    throw new UnavailableError(`${url}: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
  }
  const resumed = res.statusCode === 206;
  if (resumed) log?.(`resuming ${url} at ${formatBytes(have)}`);
  try {
    await pipeline(res, createWriteStream(part, { flags: resumed ? 'a' : 'w' }));
  } catch (err) {
    throw new UnavailableError(`${url}: ${(err as Error).message}`);
  }
}

/**
 * One GET, following up to five redirects. node:http rather than fetch(): Node 22's bundled undici
 * throws an uncatchable assertion when a server closes the connection while the body waits on the
 * disk (nodejs/undici#5360), which an HTTP/1.0 mirror such as `python3 -m http.server` does.
 */
function get(
  url: string,
  headers: Record<string, string>,
  stallMs: number,
  redirects = 5,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) =>
      reject(new UnavailableError(`${url}: ${err.code ?? err.message}`));
    let req: ClientRequest;
    let response: IncomingMessage | undefined;
    try {
      req = (url.startsWith('https:') ? httpsGet : httpGet)(url, { headers }, (res) => {
        response = res;
        const to = res.headers.location;
        if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && to) {
          res.resume();
          if (!redirects) return reject(new UnavailableError(`${url}: too many redirects`));
          return resolve(get(new URL(to, url).href, headers, stallMs, redirects - 1));
        }
        resolve(res);
      });
    } catch (err) {
      return fail(err as NodeJS.ErrnoException); // a URL node:http cannot take
    }
    req.on('error', fail);
    // A server that stops sending (before or during the body) is named, not waited on forever.
    req.setTimeout(stallMs, () => {
      const stalled = new Error(`no data for ${stallMs / 1000} s`);
      if (response) response.destroy(stalled); // the body's reader gets this, not "aborted"
      req.destroy(stalled);
    });
  });
}

export function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** Which listed files are missing from `dir` (by name; `data fetch` checks the contents). */
export function missingFiles(dir: string, files: DataFile[] = catalog()): string[] {
  return files.filter((f) => !existsSync(join(dir, f.path))).map((f) => f.path);
}
