import { spawn } from 'node:child_process';
import { mkdtemp, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { Outbox, scanLog } from '../src/publish/outbox.js';

const tmp = () => mkdtemp(join(tmpdir(), 'ecg-outbox-'));
const payload = (i: number) =>
  JSON.stringify({ event: i, emotion: ['calm', 'stress'][i % 2], pad: 'x'.repeat(i % 40) });
const LOG = 'outbox.log';

async function filled(n: number, options = {}): Promise<{ dir: string; ids: bigint[] }> {
  const dir = await tmp();
  const box = await Outbox.open(dir, options);
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) ids.push(await box.append(`vehicle/v1/emotion`, payload(i)));
  await box.close();
  return { dir, ids };
}

t.test(
  'events survive a reopen, in order; acknowledged ones do not come back; ids keep increasing',
  async (t) => {
    const { dir, ids } = await filled(100);
    let box = await Outbox.open(dir);
    t.equal(box.report.recovered, 100);
    t.same(
      box.pending().map((e) => e.payload.toString()),
      Array.from({ length: 100 }, (_, i) => payload(i)),
    );
    for (const id of ids.filter((_, i) => i % 2)) await box.ack(id);
    await box.close();
    box = await Outbox.open(dir);
    t.same(
      box.pending().map((e) => e.id),
      ids.filter((_, i) => i % 2 === 0),
    );
    for (const e of box.pending()) await box.ack(e.id);
    const next = await box.append('t', 'after');
    t.ok(next > ids[99], 'a new id is above every earlier one');
    await box.close();
  },
);

t.test('a torn tail (power cut mid-write) is cut and reported; the rest is delivered', async (t) => {
  const { dir } = await filled(100);
  const size = (await stat(join(dir, LOG))).size;
  await truncate(join(dir, LOG), size - 7);
  const box = await Outbox.open(dir);
  t.equal(box.report.recovered, 99);
  t.equal(box.report.cutRegions, 1);
  t.ok(box.report.cutBytes > 0 && box.report.cutBytes < 200, `${box.report.cutBytes} bytes cut`);
  t.equal(box.pending().at(-1)!.payload.toString(), payload(98));
  t.equal(box.report.cutRecords, 1, 'one record cut: one accepted event lost, and said so');
  const lastKept = box.pending().at(-1)!.id;
  const fresh = await box.append('t', 'new');
  t.ok(fresh > lastKept + 1n, "the cut event's id is not issued again");
  await box.close();
  const again = await Outbox.open(dir);
  t.equal(again.report.cutBytes, 0, 'the cut is final');
  t.equal(again.depth, 100);
  await again.close();
});

t.test('a corrupt record inside the log is skipped, the reader resynchronises after it', async (t) => {
  const { dir } = await filled(100);
  const buf = await readFile(join(dir, LOG));
  const at = Math.floor(buf.length / 2);
  buf[at] ^= 0x5a;
  await writeFile(join(dir, LOG), buf);
  const box = await Outbox.open(dir);
  t.equal(box.report.recovered, 99, 'one event lost, not everything after it');
  t.equal(box.report.cutRegions, 1);
  t.equal(box.report.cutRecords, 1, 'and reported as one record cut');
  await box.close();
  const again = await Outbox.open(dir);
  t.equal(again.report.cutBytes, 0, 'the log was rewritten clean');
  t.equal(again.depth, 99);
  await again.close();
});

t.test('size-bounded: the oldest events are dropped, counted, and order is kept', async (t) => {
  const { dir } = await filled(200, { maxBytes: 4096 });
  const box = await Outbox.open(dir, { maxBytes: 4096 });
  t.ok((await stat(join(dir, LOG))).size <= 4096);
  const kept = box.pending().map((e) => JSON.parse(e.payload.toString()).event as number);
  t.ok(kept.length > 10 && kept.length < 200, `${kept.length} kept`);
  t.same(
    kept,
    Array.from({ length: kept.length }, (_, i) => 200 - kept.length + i),
    'the newest, in order',
  );
  const other = await Outbox.open(await tmp(), { maxBytes: 4096 });
  for (let i = 0; i < 200; i++) await other.append('t', payload(i));
  t.equal(other.report.droppedOldest, 200 - other.depth, 'every drop counted');
  await other.close();
  await box.close();
});

t.test('SIGKILL: every event whose append resolved is there after a restart', async (t) => {
  const dir = await tmp();
  const script = `
    const { Outbox } = await import(${JSON.stringify(join(PROJECT_ROOT, 'dist', 'publish', 'outbox.js'))});
    const box = await Outbox.open(${JSON.stringify(dir)}, { fsync: 'always' });
    for (let i = 0; ; i++) {
      const id = await box.append('vehicle/v1/emotion', JSON.stringify({ i }));
      process.stdout.write(id + '\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
  const accepted: bigint[] = [];
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) if (line) accepted.push(BigInt(line));
      if (accepted.length >= 300) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((r) => child.on('exit', r));
  const box = await Outbox.open(dir);
  const ids = new Set(box.pending().map((e) => e.id));
  t.ok(
    accepted.every((id) => ids.has(id)),
    `all ${accepted.length} accepted events present (${ids.size} in the log)`,
  );
  const order = box.pending().map((e) => JSON.parse(e.payload.toString()).i as number);
  t.same(
    order,
    order.map((_, i) => i),
    'in order, none missing in between',
  );
  await box.close();
});

t.test('any truncation or corruption of a log: open never throws, recovered events are intact', async () => {
  const { dir } = await filled(30);
  const good = await readFile(join(dir, LOG));
  const originals = new Set(Array.from({ length: 30 }, (_, i) => payload(i)));
  fc.assert(
    fc.property(
      fc.nat(good.length),
      fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }),
      (cut, flips) => {
        const buf = Buffer.from(good.subarray(0, cut));
        for (const [at, x] of flips) if (at < buf.length) buf[at] ^= x;
        const scan = scanLog(buf);
        return [...scan.events.values()].every((e) => originals.has(e.payload.toString()));
      },
    ),
    { numRuns: 3000 },
  );
});

t.test('ids never repeat after compaction emptied the log', async (t) => {
  const dir = await tmp();
  const box = await Outbox.open(dir, { maxBytes: 600 });
  let last = 0n;
  for (let i = 0; i < 50; i++) last = await box.append('t', payload(i)); // compacts (drops) as it goes
  for (const e of box.pending()) await box.ack(e.id);
  await box.close();
  const again = await Outbox.open(dir, { maxBytes: 600 });
  t.equal(again.depth, 0);
  t.ok((await again.append('t', 'x')) > last, 'the watermark kept the id counter');
  await again.close();
});

t.test(
  'one outbox, one process: a second open while the first holds it is refused; a stale lock is taken',
  async (t) => {
    const { dir } = await filled(3);
    const first = await Outbox.open(dir);
    // Another live process holds it: this test's parent stands in for a second daemon.
    await first.close();
    await writeFile(join(dir, 'outbox.lock'), `${process.ppid}\n`);
    await t.rejects(Outbox.open(dir), /in use by process \d+/);
    // A lock left by a process that is gone (crash, power cut) is taken over.
    await writeFile(join(dir, 'outbox.lock'), '999999999\n');
    const box = await Outbox.open(dir);
    t.equal(box.depth, 3);
    await box.close();
    t.rejects(readFile(join(dir, 'outbox.lock')), 'released at close');
  },
);
