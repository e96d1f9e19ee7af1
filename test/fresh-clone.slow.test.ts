import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { catalog } from '../src/data/catalog.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { mirror } from './fixtures/mirror.js';

// A new user's first hour, as the README tells it: a clone in a folder with no ../shared beside it,
// `npm ci && npm start`, `npm test` without the data, `data fetch`, then the README's examples.
t.test('a fresh clone without ../shared: install, demo, data fetch, the README examples', async (t) => {
  t.setTimeout(15 * 60_000);
  const home = await mkdtemp(join(tmpdir(), 'ecg-fresh-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const clone = join(home, 'ecg-emotiond');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
  delete env.ECG_DATA_DIR;
  const sh = (cmd: string, args: string[], cwd = clone) =>
    promisify(execFile)(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 }).then(
      (r) => ({ status: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ status: e.code, out: e.stdout + e.stderr }),
    );

  // A failing step's label carries its output; a passing one's only its name.
  const ran = (r: { status: number; out: string }, what: string) =>
    t.equal(r.status, 0, r.status ? `${what}: ${r.out}` : what);

  t.equal((await sh('git', ['clone', '-q', PROJECT_ROOT, clone], home)).status, 0);
  t.notOk(existsSync(join(home, 'shared')), 'no shared data beside the clone');
  const install = await sh('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund']);
  ran(install, 'npm ci');
  t.notMatch(install.out, /npm warn/i, 'npm ci prints no warning');

  const start = await sh('npm', ['start']);
  ran(start, 'npm start');
  t.match(start.out, /recording {2}held-out: drive06 is not in driver-stress-drivedb's training data/);
  t.match(start.out, /0 not matching their schema/);
  t.ok(existsSync(join(clone, 'demo-output', 'report.html')));

  const noData = await sh('npm', ['test']);
  t.not(noData.status, 0);
  t.match(
    noData.out,
    /^ecg-emotiond: \S+\/data\/ecg: 102 recordings missing .*`npx ecg-emotiond data fetch`/m,
  );
  t.notMatch(noData.out, /\n\s+at /, 'no stack trace');

  const m = await mirror();
  t.teardown(m.close);
  const fetched = await sh('npx', ['ecg-emotiond', 'data', 'fetch', '--mirror', m.url]);
  ran(fetched, 'data fetch');
  t.match(fetched.out, new RegExp(`${catalog().length} files fetched .*every sha256 as listed`));
  t.match((await sh('npx', ['ecg-emotiond', 'data', 'check'])).out, /every listed recording is there/);

  // The README's examples, as written, from the clone and from another folder.
  const elsewhere = await sh(
    process.execPath,
    [join(clone, 'dist/cli/main.js'), 'analyze', 'mitdb/100'],
    home,
  );
  ran(elsewhere, 'analyze from another folder');
  const here = await sh('npx', ['ecg-emotiond', 'analyze', 'mitdb/100', '--to', '60']);
  ran(here, 'analyze');
  t.match(here.out, /record {6}mitdb\/100 \(channel "MLII", 360 Hz\)/);
  const peaks = await sh('npx', ['ecg-emotiond', 'peaks', 'mitdb/100']);
  ran(peaks, 'peaks');
  t.match(peaks.out, /^gross\s+\d+/m);
  const report = await sh('npx', ['ecg-emotiond', 'report', 'demo-output/events.jsonl', '--out', 'r.html']);
  ran(report, 'report');
  t.match(report.out, /labels from \S+drive06-excerpt_segments\.csv/);
});
