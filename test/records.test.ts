import { copyFile, mkdtemp, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openCsv } from '../src/records/csv.js';
import { openEdf } from '../src/records/edf.js';
import { RecordError } from '../src/records/errors.js';
import { openWfdb, verifyChecksums } from '../src/records/wfdb.js';
import { isBeat, parseAnnotations, readAnnotations } from '../src/records/wfdb-annotations.js';
import { analyzeRecord } from '../src/analysis/analyze-record.js';
import { rec, writeEdfD } from './fixtures/helpers.js';

const WFDB_RECORDS = [
  'mitdb/100',
  'mitdb/101',
  'mitdb/105',
  'mitdb/119',
  'mitdb/200',
  'nstdb/118',
  'nstdb/118e12',
  'nstdb/118e24',
  'nstdb/bw',
  'nstdb/ma',
  'drivedb/drive05',
  'drivedb/drive06',
  'wfdb/v102s',
  'wfdb/test01_00s',
  'wfdb/100_3chan',
];

for (const name of WFDB_RECORDS) {
  t.test(`${name}: every signal matches its header checksum and initial value`, async (t) => {
    const record = await openWfdb(rec(...name.split('/')));
    const results = await verifyChecksums(record);
    t.equal(results.length, record.header.signals.length);
    for (const r of results) {
      t.ok(r.ok, `${r.label}: checksum ${r.actual} vs header ${r.expected}`);
      t.ok(r.initialValueOk, `${r.label}: initial value`);
    }
  });
}

t.test("a changed sample fails its signal's checksum and no other", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-sum-'));
  await copyFile(rec('wfdb', '100_3chan.hea'), join(dir, '100_3chan.hea'));
  const dat = await readFile(rec('wfdb', '100_3chan.dat'));
  dat[3000] ^= 0x01; // low byte of an even sample in format 212: signal (2000 % 3) = 2
  await writeFile(join(dir, '100_3chan.dat'), dat);
  const results = await verifyChecksums(await openWfdb(join(dir, '100_3chan')));
  t.same(
    results.map((r) => r.ok),
    [true, true, false],
  );
});

t.test('drivedb ECG comes out at 496 Hz with the published sample count', async (t) => {
  const record = await openWfdb(rec('drivedb', 'drive05'));
  const ecg = record.channel('ECG');
  t.equal(ecg.info.sampleRateHz, 496);
  t.equal(ecg.info.sampleCount, 78367 * 32); // 16x32 frames: 78 367 frames of 32 ECG samples
  const hr = record.channel('HR');
  t.equal(hr.info.sampleRateHz, 15.5);
  // drive05's ECG is pinned at -10 mV from 31.35 min on
  const at = Math.round(32 * 60 * 496);
  for await (const c of ecg.chunks({ fromSample: at, toSample: at + 10 })) {
    t.equal(c.startSample, at);
    t.same(Array.from(c.digital!), new Array(10).fill(-10000));
    t.ok(Math.abs(c.physical[0] - -10) < 1e-9, 'physical value in mV');
  }
});

t.test('format 212 with an odd sample count and ranged reads agree with a whole read', async (t) => {
  const record = await openWfdb(rec('wfdb', '100_3chan'));
  const ch = record.channel(2);
  const whole: number[] = [];
  for await (const c of ch.chunks({ chunkSamples: 7 })) whole.push(...c.digital!);
  t.equal(whole.length, 999);
  const part: number[] = [];
  for await (const c of ch.chunks({ fromSample: 501, toSample: 999 })) part.push(...c.digital!);
  t.same(part, whole.slice(501));
});

t.test('mitdb 100 reference beats and AUX rhythm labels', async (t) => {
  const ann = await readAnnotations(rec('mitdb', '100'), 'atr');
  t.equal(ann.filter((a) => isBeat(a.code)).length, 2273);
  t.equal(ann[0].aux, '(N');
  t.equal(ann[0].symbol, '+');
});

t.test('annotation SKIP, NUM, CHN and AUX pseudo-codes', async (t) => {
  const words: number[] = [];
  const w = (code: number, i: number) => words.push((code << 10) | i);
  w(1, 10); // N at 10
  w(59, 0); // SKIP: 32-bit interval 70000, high word first
  const bytes = [...new Uint8Array(new Uint16Array(words).buffer)];
  const skip = Buffer.alloc(4);
  skip.writeInt16LE(1, 0);
  skip.writeUInt16LE(70000 - 65536, 2);
  const tail: number[] = [];
  const tw = (code: number, i: number) => tail.push(i & 0xff, ((code << 10) | i) >> 8);
  tw(5, 3); // V at 10 + 70000 + 3
  tw(62, 1); // CHN 1
  tw(60, 7); // NUM 7
  tw(63, 3); // AUX of 3 bytes (padded to 4)
  const aux = [0x28, 0x56, 0x54, 0];
  const end = [0, 0];
  const buf = Buffer.from([...bytes, ...skip, ...tail, ...aux, ...end]);
  const ann = parseAnnotations(buf, 'synthetic.atr');
  t.equal(ann.length, 2);
  t.equal(ann[0].sample, 10);
  t.match(ann[1], { sample: 70013, symbol: 'V', channel: 1, num: 7, aux: '(VT' });
  t.throws(
    () => parseAnnotations(Buffer.from([0x00, 0xec]), 'bad.atr'),
    RecordError,
    'SKIP without its interval',
  );
});

t.test('truncated and malformed WFDB input give one error naming file and offset', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-wfdb-'));
  await copyFile(rec('mitdb', '100.hea'), join(dir, '100.hea'));
  await copyFile(rec('mitdb', '100.dat'), join(dir, '100.dat'));
  await truncate(join(dir, '100.dat'), 100_001);
  await t.rejects(openWfdb(join(dir, '100')), {
    name: 'RecordError',
    message: /100\.dat: truncated.*byte offset 100001/,
  });
  await writeFile(join(dir, 'bad.hea'), 'bad 1 360 100\nbad.dat 999 200 11 0 0 0 0 MLII\n');
  await t.rejects(openWfdb(join(dir, 'bad')), { message: /bad\.hea: signal 0: unsupported WFDB format 999/ });
  await writeFile(join(dir, 'bad2.hea'), 'bad2 2 360\nbad2.dat 212 200 11 0 0 0 0 MLII\n');
  await t.rejects(openWfdb(join(dir, 'bad2')), { message: /declares 2 signals but has 1/ });
  await t.rejects(openWfdb(join(dir, 'missing')), { message: /missing\.hea: cannot read header \(ENOENT\)/ });
});

t.test('EDF: channel by label, physical units in mV, truncation detected', async (t) => {
  const path = rec('eegmat', 'Subject00_1.edf');
  const edf = await openEdf(path);
  t.equal(edf.header.reserved, 'EDF+C');
  const ecg = edf.channel('ECG ECG');
  t.equal(ecg.info.index, 20);
  t.equal(ecg.info.sampleRateHz, 500);
  t.equal(ecg.info.unit, 'mV');
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  for await (const c of ecg.chunks()) {
    n += c.physical.length;
    for (const v of c.physical) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  t.equal(n, 182 * 500);
  t.ok(min >= -0.20503 - 1e-9 && max <= 0.654943 + 1e-9, 'within the header physical range');
  const eeg = edf.channel(0);
  t.equal(eeg.info.unit, 'mV', 'uV converted to mV');
  t.throws(() => edf.channel('EDF Annotations'), /annotation channel/);
  t.throws(() => edf.channel('nope'), /no channel named "nope"/);
  const dir = await mkdtemp(join(tmpdir(), 'ecg-edf-'));
  const short = join(dir, 'short.edf');
  await writeFile(short, (await readFile(path)).subarray(0, 200_000));
  await t.rejects(openEdf(short), {
    name: 'RecordError',
    message: /short\.edf: truncated: header declares 182 data records/,
  });
  await writeFile(join(dir, 'garbage.edf'), Buffer.alloc(300, 0x41));
  await t.rejects(openEdf(join(dir, 'garbage.edf')), { message: /not an EDF file/ });
});

t.test('CSV and one-value-per-line text records', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-csv-'));
  await writeFile(join(dir, 'a.csv'), 'time,ecg\n0,0.5\n0.002,0.25\n0.004,-1\n');
  const a = await openCsv(join(dir, 'a.csv'), { sampleRateHz: 500, channel: 'ecg' });
  const got: number[] = [];
  for await (const c of a.chunks({ chunkSamples: 2 })) got.push(...c.physical);
  t.same(got, [0.5, 0.25, -1]);
  await writeFile(join(dir, 'b.txt'), '1\n2\n3\n4\n');
  const b = await openCsv(join(dir, 'b.txt'), { sampleRateHz: 250 });
  const part: number[] = [];
  for await (const c of b.chunks({ fromSample: 1, toSample: 3 })) {
    t.equal(c.startSample, 1);
    part.push(...c.physical);
  }
  t.same(part, [2, 3]);
  await writeFile(join(dir, 'c.txt'), '1\n2\nxx\n');
  const c = await openCsv(join(dir, 'c.txt'), { sampleRateHz: 250 });
  await t.rejects(
    (async () => {
      for await (const _ of c.chunks()) {
        /* drain */
      }
    })(),
    { message: /c\.txt: line 3: not a number.*byte offset 4/ },
  );
  await t.rejects(openCsv(join(dir, 'b.txt'), { sampleRateHz: 0 }), /needs a sample rate/);
});

t.test('EDF+D: a discontinuity between data records is reported, and no window bridges it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edfd-'));
  const file = join(dir, 'gap.edf');
  // 30 s, then 10 s missing, then 30 s more.
  await writeEdfD(file, [
    ...Array.from({ length: 30 }, (_, i) => i),
    ...Array.from({ length: 30 }, (_, i) => 40 + i),
  ]);
  const reader = (await openEdf(file)).channel('ECG');
  const gaps: [number, number][] = [];
  let n = 0;
  for await (const c of reader.chunks({ chunkSamples: 4000 })) {
    if (c.gapBeforeS) gaps.push([c.startSample, c.gapBeforeS]);
    t.equal(c.startSample, n, 'chunks follow on in stored samples');
    n += c.physical.length;
  }
  t.equal(n, 30_000);
  t.same(gaps, [[15_000, 10]], 'one gap, of 10 s, before the 31st record');

  const a = await analyzeRecord(file, { channel: 'ECG' });
  const bridging = a.windows.filter((w) => w.startS < 30 && w.endS > 30);
  t.ok(bridging.length >= 3, `${bridging.length} windows span the gap`);
  t.ok(
    bridging.every((w) => w.quality === 'unusable' && w.reasons.includes('gap')),
    'every one of them unusable, for the gap',
  );
  const clear = a.windows.filter((w) => w.endS < 29 || w.startS > 31);
  t.ok(clear.filter((w) => w.quality !== 'unusable').length / clear.length > 0.9, 'the rest is usable ECG');

  // The same samples as continuous EDF+C: nothing is marked.
  const cont = join(dir, 'cont.edf');
  await writeEdfD(
    cont,
    Array.from({ length: 60 }, (_, i) => i),
  );
  const b = await analyzeRecord(cont, { channel: 'ECG' });
  t.notOk(
    b.windows.some((w) => w.reasons.includes('gap')),
    'contiguous onsets: no gap',
  );
});
