import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { catalog } from '../src/data/catalog.js';
import { fetchData, sha256Of } from '../src/data/fetch.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { DATA } from './fixtures/helpers.js';
import { mirror } from './fixtures/mirror.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/** The CLI, run without blocking this process (the mirror serves from it). */
async function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [BIN, ...args], { encoding: 'utf8' }).then(
    (r) => ({ status: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      status: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}
const WFDB = catalog().filter((f) => f.path.startsWith('wfdb/'));

t.test(
  'data fetch: every file checked against the list, nothing fetched twice, a broken download resumed',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-data-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const m = await mirror();
    t.teardown(m.close);
    // Half of one file from an interrupted earlier run.
    const first = WFDB.find((f) => f.path.endsWith('.dat'))!;
    const whole = await readFile(join(DATA, first.path));
    await mkdir(join(dir, 'wfdb'));
    await writeFile(join(dir, `${first.path}.part`), whole.subarray(0, whole.length >> 1));

    const r = await fetchData({ dir, sets: ['wfdb'], mirror: m.url });
    t.same(r.fetched.sort(), WFDB.map((f) => f.path).sort());
    for (const f of WFDB) t.equal(await sha256Of(join(dir, f.path)), f.sha256, f.path);
    t.same(
      m.requests.find((q) => q.path === first.path),
      { path: first.path, range: `bytes=${whole.length >> 1}-` },
      'the partial file continued where it stopped',
    );
    t.notOk(existsSync(join(dir, `${first.path}.part`)));

    const again = await fetchData({ dir, sets: ['wfdb'], mirror: m.url });
    t.same(again.fetched, []);
    t.equal(again.present.length, WFDB.length);
    t.equal(m.requests.length, WFDB.length, 'no request for files already there');
  },
);

t.test('data fetch from a mirror that closes every connection, and from one that stalls', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-data-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Large files whose bodies wait on the disk while the server closes: fetch() crashed here.
  const closing = await mirror(undefined, { close: true });
  t.teardown(closing.close);
  const run = await cli('data', 'fetch', 'drivedb', 'mitdb', '--dir', dir, '--mirror', closing.url);
  t.equal(run.status, 0, run.stderr);
  const sets = catalog().filter((f) => /^(drivedb|mitdb)\//.test(f.path));
  t.match(run.stdout, new RegExp(`${sets.length} files fetched .*every sha256 as listed`));

  const stalling = await mirror(undefined, { stallAfterHalf: true });
  t.teardown(stalling.close);
  await t.rejects(
    fetchData({ dir: join(dir, 'stalled'), sets: ['wfdb'], mirror: stalling.url, stallMs: 300 }),
    { message: /^http:\/\/127\.0\.0\.1:\d+\/wfdb\/\S+: no data for 0\.3 s$/ },
  );
});

t.test(
  'data fetch refuses a file whose sha256 is not the listed one, in one line, and keeps nothing of it',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-data-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const bad = 'wfdb/v102s.dat';
    const m = await mirror(bad);
    t.teardown(m.close);
    const run = await cli('data', 'fetch', 'wfdb', '--dir', dir, '--mirror', m.url);
    t.equal(run.status, 4);
    t.match(
      run.stderr,
      /^ecg-emotiond: http:\/\/127\.0\.0\.1:\d+\/wfdb\/v102s\.dat: sha256 [0-9a-f]{12}… is not the listed .* refused\n$/,
    );
    t.notOk(existsSync(join(dir, bad)) || existsSync(join(dir, `${bad}.part`)), 'nothing of it kept');

    const unknown = await cli('data', 'fetch', 'mitbih', '--dir', dir);
    t.equal(unknown.status, 6);
    t.match(
      unknown.stderr,
      /^ecg-emotiond: no data set mitbih \(sets: mitdb, nstdb, drivedb, eegmat, wfdb\)\n$/,
    );
    // A port nobody listens on: one that was free a moment ago.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const offline = await cli('data', 'fetch', 'wfdb', '--dir', dir, '--mirror', `http://127.0.0.1:${port}/`);
    t.equal(offline.status, 6);
    t.match(
      offline.stderr,
      new RegExp(`^ecg-emotiond: http://127\\.0\\.0\\.1:${port}/wfdb/.*: ECONNREFUSED\n$`),
    );
  },
);

t.test(
  'record names resolve against the data folder from any working folder; without the data, one line says how to get it',
  async (t) => {
    const cwd = await mkdtemp(join(tmpdir(), 'ecg-cwd-'));
    t.teardown(() => rm(cwd, { recursive: true, force: true }));
    const analyze = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [BIN, 'analyze', 'mitdb/100', '--to', '20', '--json'], {
        encoding: 'utf8',
        cwd,
        env: { ...process.env, ...env },
      });
    const found = analyze({ ECG_DATA_DIR: DATA });
    t.equal(found.status, 0, found.stderr);
    t.match(JSON.parse(found.stdout), { record: 'mitdb/100', sampleRateHz: 360, beats: 24 });
    const none = analyze({ ECG_DATA_DIR: join(cwd, 'nothing') });
    t.equal(none.status, 4);
    t.match(
      none.stderr,
      /^ecg-emotiond: mitdb\/100: no such record, here or in the data folder .*nothing .*data fetch.*\n$/,
    );
    const check = spawnSync(process.execPath, [BIN, 'data', 'check'], {
      encoding: 'utf8',
      env: { ...process.env, ECG_DATA_DIR: join(cwd, 'nothing') },
    });
    t.equal(check.status, 4);
    t.match(check.stderr, /^ecg-emotiond: .*nothing: 102 recordings missing .*data fetch.*\n$/);
  },
);
