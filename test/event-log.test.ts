import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadModelPackage } from '../src/model/package/model-package.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { ecgSamples, EventLogWriter, readEventLog } from '../src/report/event-log.js';

const manifest = async () =>
  (await loadModelPackage(join(PROJECT_ROOT, 'models', 'driver-stress-drivedb'))).manifest;

t.test(
  'the event log keeps the cleaned ECG at 250 Hz in µV, beats, windows and decisions on one time line',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-evlog-'));
    const path = join(dir, 'events.jsonl');
    const w = await EventLogWriter.open(path);
    w.begin({
      startedAt: 'now',
      vehicleId: 'car',
      manifest: await manifest(),
      provider: 'cpu',
      source: 'serial:/dev/x',
    });
    // 25 s at 500 Hz in frames of 20: a 1 Hz sine of 1.5 mV.
    const frame = new Float64Array(20);
    for (let n = 0; n < 12_500; n += 20) {
      for (let i = 0; i < 20; i++) frame[i] = 1.5 * Math.sin((2 * Math.PI * (n + i)) / 500);
      w.clean(frame, 20);
      if (n % 500 === 0) w.beat(n + 125); // a beat at each crest
    }
    w.window(0, 2500, { quality: 'good', reasons: [], hrBpm: 60, rmssdMs: 0 });
    w.event(2500, { type: 'new', label: 'low', confidence: 0.9, episodeId: 'e1' });
    w.gap(12);
    // A new chain (the input rate changed) counts from 0 again; the log's time runs on.
    w.restart();
    w.window(0, 2500, { quality: 'unusable', reasons: ['gap'], hrBpm: null, rmssdMs: null });
    await w.close();

    const log = await readEventLog(path);
    t.equal(log.start.modelRateHz, 500);
    t.same(log.start.model.labels, ['low', 'medium', 'high']);
    t.same(
      log.ecg.map((e) => e.t0),
      [0, 10, 20],
      'one ecg record per 10 s, the last cut short at the gap',
    );
    const x = log.ecg.flatMap((e) => Array.from(ecgSamples(e)));
    t.equal(x.length, 6250, '25 s at 250 Hz');
    const err = Math.max(...x.map((v, i) => Math.abs(v - 1.5 * Math.sin((2 * Math.PI * 2 * i) / 500))));
    t.ok(err <= 0.0005, `every second sample, to the µV (max error ${err} mV)`);
    t.same(
      log.ecg.flatMap((e) => e.beats),
      Array.from({ length: 25 }, (_, k) => k + 0.25),
    );
    t.same(log.events, [
      { kind: 'event', t: 5, type: 'new', label: 'low', confidence: 0.9, episodeId: 'e1' },
    ]);
    t.same(log.gaps, [{ kind: 'gap', t: 25, lost: 12 }]);
    t.same(
      log.windows.map((r) => [r.t0, r.t1, r.quality]),
      [
        [0, 5, 'good'],
        [25, 30, 'unusable'],
      ],
    );
  },
);

t.test('each run starts its own file; a full file moves to .1 and the new one reads alone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-evlog-rot-'));
  const path = join(dir, 'events.jsonl');
  await writeFile(path, 'the previous run\n');
  const w = await EventLogWriter.open(path, { maxBytes: 65536, ecg: false });
  t.equal(await readFile(`${path}.1`, 'utf8'), 'the previous run\n', 'the previous run kept as .1');
  w.begin({ startedAt: 'now', vehicleId: 'car', manifest: await manifest(), provider: 'cpu', source: 's' });
  for (let i = 0; i < 1000; i++)
    w.window(i * 625, i * 625 + 2500, { quality: 'good', reasons: [], hrBpm: 70, rmssdMs: 30 });
  await w.close();
  const older = await readEventLog(`${path}.1`);
  const newer = await readEventLog(path);
  t.ok(older.windows.length > 0 && newer.windows.length > 0);
  t.equal(older.windows.length + newer.windows.length, 1000, 'no window lost across the rotation');
  t.equal(
    newer.windows[0].t1,
    older.windows.at(-1)!.t1 + 1.25,
    'the new file continues where the old one stopped',
  );
  t.ok((await readFile(path)).length < 65536 + 1000);
  t.equal(await readFile(`${path}.2`, 'utf8'), 'the previous run\n', 'the run before moved up to .2');
});

t.test('a crash loop keeps its last runs: `keep` files beside the log, the oldest dropped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-evlog-keep-'));
  const path = join(dir, 'events.jsonl');
  for (let run = 1; run <= 6; run++) {
    const w = await EventLogWriter.open(path, { ecg: false, keep: 3 });
    w.begin({
      startedAt: `run ${run}`,
      vehicleId: 'car',
      manifest: await manifest(),
      provider: 'cpu',
      source: 's',
    });
    await w.close();
  }
  const startOf = async (p: string) => (await readEventLog(p)).start.startedAt;
  t.equal(await startOf(path), 'run 6');
  t.equal(await startOf(`${path}.1`), 'run 5');
  t.equal(await startOf(`${path}.2`), 'run 4');
  t.equal(await startOf(`${path}.3`), 'run 3');
  t.notOk(existsSync(`${path}.4`), 'no more than keep');
});

t.test('an event log that cannot be written is refused at open', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-evlog-bad-'));
  await writeFile(join(dir, 'file'), '');
  await t.rejects(EventLogWriter.open(join(dir, 'file', 'events.jsonl')), { code: 'ENOTDIR' });
  t.notOk(existsSync(join(dir, 'file', 'events.jsonl')));
});

t.test('without the ECG kept, the log still keeps time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-evlog-noecg-'));
  const path = join(dir, 'events.jsonl');
  const w = await EventLogWriter.open(path, { ecg: false });
  w.begin({ startedAt: 'now', vehicleId: 'car', manifest: await manifest(), provider: 'cpu', source: 's' });
  w.clean(new Float64Array(1000), 1000);
  w.gap(null);
  await w.close();
  const log = await readEventLog(path);
  t.same(log.ecg, []);
  t.same(log.gaps, [{ kind: 'gap', t: 2, lost: null }], '1000 samples at 500 Hz: the gap is at 2 s');
});
