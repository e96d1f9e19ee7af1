import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { Outbox } from '../src/publish/outbox.js';
import { RecordError } from '../src/records/errors.js';
import { openChannel } from '../src/records/open.js';
import { rec } from './fixtures/helpers.js';
import { fuzzParams } from './fixtures/fuzz.js';

/** Reads every sample of a record's first channel; only a RecordError may stop it. */
async function readAll(path: string): Promise<'read' | 'refused'> {
  try {
    const reader = await openChannel(path);
    let n = 0;
    for await (const c of reader.chunks({ chunkSamples: 4096 })) n += c.physical.length;
    if (!Number.isFinite(n)) throw new Error('sample count not finite');
    return 'read';
  } catch (err) {
    if (err instanceof RecordError) return 'refused';
    throw err;
  }
}

/** Bytes changed at random places: where `at` picks the offset, `value` the new byte. */
const mutationsArb = (maxAt: number) =>
  fc.array(fc.record({ at: fc.nat(maxAt - 1), value: fc.nat(255) }), { minLength: 1, maxLength: 6 });

t.test('EDF: headers with bytes changed at random are read or refused with a RecordError', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-fuzz-edf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The header and the first 20 data records of a real EDF (1 s each): small enough to read whole.
  const whole = await readFile(rec('eegmat', 'Subject00_1.edf'));
  const headerBytes = Number(whole.subarray(184, 192).toString('latin1').trim());
  const ns = Number(whole.subarray(252, 256).toString('latin1').trim());
  let recordBytes = 0;
  for (let i = 0; i < ns; i++) {
    const at = 256 + 216 * ns + i * 8;
    recordBytes +=
      2 *
      Number(
        whole
          .subarray(at, at + 8)
          .toString('latin1')
          .trim(),
      );
  }
  const base = Buffer.from(whole.subarray(0, headerBytes + 20 * recordBytes));
  base.write('20      ', 236, 'latin1'); // the number of data records kept
  const file = join(dir, 'x.edf');
  const seen = { read: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(mutationsArb(headerBytes), fc.boolean(), async (mutations, asDigits) => {
      const b = Buffer.from(base);
      // Digits and signs reach the number fields' parsers; any byte tests the rest.
      for (const m of mutations) b[m.at] = asDigits ? '0123456789-.e '.charCodeAt(m.value % 14) : m.value;
      await writeFile(file, b);
      seen[await readAll(file)]++;
      return true;
    }),
    fuzzParams(200),
  );
  t.comment(`EDF: ${seen.read} read, ${seen.refused} refused with a RecordError`);
  t.ok(seen.read > 0 && seen.refused > 0, 'both outcomes reached');
});

t.test('WFDB: headers edited at random are read or refused with a RecordError', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-fuzz-wfdb-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const header = await readFile(`${rec('mitdb', '100')}.hea`, 'latin1');
  await copyFile(`${rec('mitdb', '100')}.dat`, join(dir, '100.dat'));
  const tokenArb = fc.constantFrom(
    '0',
    '-1',
    '1e308',
    'NaN',
    '../x',
    '/etc/hostname',
    '',
    ' ',
    '\n',
    '212',
    '16',
    '8',
    'x',
  );
  const seen = { read: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ at: fc.nat(header.length - 1), cut: fc.nat(6), token: tokenArb }), {
        minLength: 1,
        maxLength: 4,
      }),
      async (edits) => {
        let text = header;
        for (const e of edits) text = text.slice(0, e.at) + e.token + text.slice(e.at + e.cut);
        await writeFile(join(dir, '100.hea'), text);
        seen[await readAll(join(dir, '100'))]++;
        return true;
      },
    ),
    fuzzParams(200),
  );
  t.comment(`WFDB: ${seen.read} read, ${seen.refused} refused with a RecordError`);
  t.ok(seen.read > 0 && seen.refused > 0, 'both outcomes reached');
});

t.test('config: random YAML and random values in real keys load or fail with one ConfigError', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-fuzz-cfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  const keys = [
    'source.sampleRateHz',
    'source.gain',
    'mqtt.statsIntervalS',
    'mqtt.url',
    'dsp.frameSamples',
    'decision.minConfidence',
    'vehicleId',
    'outbox.maxBytes',
  ];
  const valueArb = fc.oneof(
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.constantFrom('[', '{', '*a', '&a [*a]', '.inf', '-.nan', '~', '0x1f', '1e400', '!!binary x'),
  );
  let loaded = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(...keys),
      valueArb,
      async (text, key, value) => {
        for (const attempt of [text, `${key.split('.').join(':\n  ')}: ${JSON.stringify(value)}\n`]) {
          await writeFile(file, attempt);
          try {
            await loadConfig(file, { ECG_EMOTIOND__VEHICLE_ID: String(value) });
            loaded++;
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            if (err.message.includes('\n')) throw new Error(`not one line: ${err.message}`);
            refused++;
          }
        }
        return true;
      },
    ),
    fuzzParams(300),
  );
  t.comment(`config: ${loaded} loaded, ${refused} refused with one ConfigError line`);
  t.ok(loaded > 0 && refused > 0, 'both outcomes reached');
});

t.test(
  'outbox: a log cut or corrupted at random recovers without throwing and keeps events intact',
  async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'ecg-fuzz-outbox-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.array(fc.record({ at: fc.nat(), value: fc.nat(255) }), { maxLength: 3 }),
        async (payloads, cutAt, flips) => {
          const dir = join(root, String(run++));
          const a = await Outbox.open(dir, { fsync: 'never' });
          for (const p of payloads) await a.append('emotion', p);
          await a.close();
          const log = join(
            dir,
            (await import('node:fs')).readdirSync(dir).find((f) => !f.endsWith('.tmp'))!,
          );
          let bytes = await readFile(log);
          bytes = bytes.subarray(0, cutAt % (bytes.length + 1)); // a power cut at any byte
          for (const f of flips) if (bytes.length) bytes[f.at % bytes.length] = f.value;
          await writeFile(log, bytes);
          const b = await Outbox.open(dir, { fsync: 'never' });
          const kept = b.pending();
          await b.close();
          // What survives is a subset of what was written, each payload whole.
          return kept.length <= payloads.length && kept.every((e) => payloads.includes(e.payload.toString()));
        },
      ),
      fuzzParams(150),
    );
  },
);
