import { spawnSync } from 'node:child_process';
import { openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { journalPrefixed } from '../src/log.js';
import { PROJECT_ROOT } from '../src/paths.js';

t.test('each log line carries its syslog priority for journald', async (t) => {
  t.equal(journalPrefixed('{"level":50,"msg":"x"}'), '<3>{"level":50,"msg":"x"}', 'error → err');
  t.equal(journalPrefixed('{"level":40,"msg":"x"}').slice(0, 3), '<4>', 'warn → warning');
  t.equal(journalPrefixed('{"level":30,"msg":"x"}').slice(0, 3), '<6>', 'info → info');
  t.equal(journalPrefixed('{"level":20,"msg":"x"}').slice(0, 3), '<7>', 'debug → debug');
  t.equal(journalPrefixed('{"level":60,"msg":"x"}').slice(0, 3), '<2>', 'fatal → crit');
});

t.test('only when stderr is the journal stream (JOURNAL_STREAM names its dev:inode)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-log-'));
  const run = (file: string, journal: (f: string) => string | undefined) => {
    const fd = openSync(file, 'w');
    const st = statSync(file);
    const env = { ...process.env, JOURNAL_STREAM: journal(`${st.dev}:${st.ino}`) };
    const script = `import(${JSON.stringify(join(PROJECT_ROOT, 'dist', 'log.js'))}).then((m) => m.createLogger('info').warn('w'))`;
    spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', fd], env });
    return readFileSync(file, 'utf8');
  };
  t.match(
    run(join(dir, 'journal'), (self) => self),
    /^<4>\{"level":40/,
    'stderr is the journal: prefixed',
  );
  t.match(
    run(join(dir, 'pipe'), () => '1:2'),
    /^\{"level":40/,
    'a journal elsewhere: plain JSON',
  );
});
