import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { runDemo } from '../src/daemon/demo.js';
import { readEventLog, type EventLogRecord, type WindowRecord } from '../src/report/event-log.js';
import { COLORS, tint } from '../src/report/html-report.js';
import { blobs, colorMask, count, screenshot } from './fixtures/png.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

t.test('the demo writes an event log and a report that chromium renders as the log says', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-report-'));
  const lines: string[] = [];
  const r = await runDemo({ speed: 300, outDir: dir, out: (l) => lines.push(l) });
  t.match(lines.at(-1), /^ {2}report {5}\S+report\.html \(event log \S+events\.jsonl\)$/);

  const log = await readEventLog(join(dir, 'events.jsonl'));
  t.equal(log.windows.length, r.windows, 'every rated window is in the log');
  t.same(log.badLines, []);
  t.equal(log.start.record, join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt'));
  const ecgSeconds = log.ecg.reduce((a, e) => a + Buffer.byteLength(e.uv, 'base64') / 2 / e.rateHz, 0);
  t.ok(Math.abs(ecgSeconds - 600) < 2, `${ecgSeconds.toFixed(1)} s of ECG logged (the record is 600 s)`);

  const html = await readFile(r.report, 'utf8');
  t.match(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/,
  );
  t.notMatch(html, /<script|\bsrc=|\bhref=|url\(/i, 'nothing to fetch, nothing to run: self-contained');
  t.match(html, /· vehicle id vehicle ·/, 'the header names the vehicle id once');
  t.match(html, /the dashed line is its p99/);
  // Every heart-rate point stays inside its plot box (spikes sit on the edge).
  const hrSvg = /aria-label="heart rate">([\s\S]*?)<\/svg>/.exec(html)![1];
  const ys = [...hrSvg.matchAll(/<path d="([^"]*)"/g)].flatMap((m) =>
    [...m[1].matchAll(/[ML]\s*[\d.]+[ ,]([\d.]+)/g)].map((p) => Number(p[1])),
  );
  t.ok(ys.length > 100 && ys.every((v) => v >= 8 && v <= 180 - 24), 'heart rate inside its box');

  const img = screenshot(r.report, join(dir, 'report.png'));
  // The ECG strip: the default strip is the 20 s from the first good window; one ▼ per logged beat.
  const from = log.windows.find((w) => w.quality === 'good')!.t0;
  const beats = log.ecg.flatMap((e) => e.beats).filter((b) => b >= from && b < from + 20);
  t.ok(beats.length >= 20, `${beats.length} beats in the strip`);
  t.equal(
    blobs(colorMask(img, COLORS.rPeak), img.width),
    beats.length,
    'one R-peak marker per detected beat',
  );
  t.ok(count(colorMask(img, COLORS.ecg)) > 1000, 'the ECG trace is drawn');
  t.ok(count(colorMask(img, COLORS.hrWindow)) > 1000, 'the heart rate is drawn');
  t.ok(count(colorMask(img, COLORS.latency)) > 1000, 'the latency histogram is drawn');

  // The recording's labels (drive06: Rest1 low for 158.84 s, then City1 high) as a tinted band.
  const [low, , high] = ['low', 'medium', 'high'].map((_, k) =>
    count(colorMask(img, tint(COLORS.labels[k]))),
  );
  const share = low / (low + high);
  t.ok(Math.abs(share - 158.84 / 600) < 0.01, `the labels band: ${(100 * share).toFixed(1)} % low (26.5 %)`);
  t.match(
    html,
    /inferred windows inside labelled segments; the most probable class matches the label in \d+/,
  );
  // The caveat comes from the model's manifest, not fixed text, and names the baseline to read against.
  t.match(html, /always answering "(low|medium|high)" would match \d+\.\d %/);
  t.match(
    html,
    /held-out: drive06 is not in driver-stress-drivedb&#39;s training data \(trained on drive05\)\. \d+ inferred windows inside labelled segments; the most probable class matches the label in \d+ \(\d+\.\d %, held-out agreement\)/,
  );
  t.match(html, /this model shows no evidence of recognising anything/);
  // The figure itself says whether its windows were in the training data, not only the text below.
  t.match(
    html,
    /aria-label="class probabilities, held-out">\s*<text[^>]*>held-out: drive06 is not in driver-stress-drivedb/,
  );
});

t.test('signal quality renders in proportion to the windows of each class', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-report-q-'));
  const file = join(dir, 'events.jsonl');
  const records: EventLogRecord[] = [
    {
      kind: 'start',
      v: 1,
      startedAt: '2026-11-25T00:00:00.000Z',
      vehicleId: 'bench',
      model: { name: 'm', version: '1', precision: 'int8', labels: ['low', 'high'] },
      provider: 'cpu',
      source: 'serial:/dev/ttyTHS1',
      modelRateHz: 500,
    },
  ];
  // 200 windows at a 1.25 s hop: 120 good, 40 acceptable, 40 unusable, interleaved in runs.
  const classes: WindowRecord['quality'][] = ['good', 'good', 'good', 'acceptable', 'unusable'];
  for (let i = 0; i < 200; i++) {
    const quality = classes[Math.floor(i / 8) % classes.length];
    const t1 = 5 + 1.25 * i;
    records.push({
      kind: 'window',
      t0: t1 - 5,
      t1,
      quality,
      reasons: [],
      hrBpm: 70,
      rmssdMs: 30,
      p: [0.7, 0.3],
      totalMs: 12,
      inferenceMs: 10,
    });
  }
  await writeFile(file, records.map((r) => JSON.stringify(r)).join('\n'));
  const out = join(dir, 'q.html');
  const cli = spawnSync(process.execPath, [BIN, 'report', file, '--out', out], { encoding: 'utf8' });
  t.equal(cli.status, 0, cli.stderr);
  t.match(cli.stdout, /report: \S+q\.html \(200 windows\)/);
  const img = screenshot(out, join(dir, 'q.png'));
  const px = (['good', 'acceptable', 'unusable'] as const).map((q) =>
    count(colorMask(img, COLORS.quality[q])),
  );
  const total = px[0] + px[1] + px[2];
  // The first window paints its whole 5 s; each later one its 1.25 s hop (plus a 10 px legend key each).
  const expected = [120, 40, 40].map((n) => n / 200);
  px.forEach((p, k) =>
    t.ok(Math.abs(p / total - expected[k]) < 0.02, `${(p / total).toFixed(3)} ≈ ${expected[k]}`),
  );
  const html = await readFile(out, 'utf8');
  t.match(html, /none \(the recording has no labels file\)/);
  t.match(html, /<h2>Class probabilities, live<\/h2>/, 'a sensor stream is never training data');
});

t.test(
  'report: a torn last line is skipped and said; a file that is not an event log is refused in one line',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-report-bad-'));
    const file = join(dir, 'events.jsonl');
    const start = {
      kind: 'start',
      v: 1,
      startedAt: 'x',
      vehicleId: 'v',
      model: { name: 'm', version: '1', precision: 'int8', labels: ['a'] },
      provider: 'cpu',
      source: 's',
      modelRateHz: 500,
    };
    const window = { kind: 'window', t0: 0, t1: 5, quality: 'good', reasons: [], hrBpm: 60, rmssdMs: 20 };
    await writeFile(file, `${JSON.stringify(start)}\n${JSON.stringify(window)}\n`);
    await appendFile(file, '{"kind":"window","t0":1.25,"t1":6.2'); // the daemon was killed mid-write
    const ok = spawnSync(process.execPath, [BIN, 'report', file, '--out', join(dir, 'r.html')], {
      encoding: 'utf8',
    });
    t.equal(ok.status, 0, ok.stderr);
    t.match(await readFile(join(dir, 'r.html'), 'utf8'), /1 unreadable lines skipped \(first: line 3\)/);

    await writeFile(join(dir, 'not-a-log.jsonl'), '{"hello":1}\n');
    const bad = spawnSync(process.execPath, [BIN, 'report', join(dir, 'not-a-log.jsonl')], {
      encoding: 'utf8',
    });
    t.equal(bad.status, 4);
    t.equal(
      bad.stderr,
      `ecg-emotiond: ${join(dir, 'not-a-log.jsonl')}: no start record: not an ecg-emotiond event log\n`,
    );
    const missing = spawnSync(process.execPath, [BIN, 'report', join(dir, 'nope.jsonl')], {
      encoding: 'utf8',
    });
    t.equal(missing.status, 4);
    t.match(missing.stderr, /^ecg-emotiond: \S+nope\.jsonl: ENOENT\n$/);
  },
);
