import fc from 'fast-check';
import t from 'tap';
import { AsciiDecoder, encodeAscii } from '../src/protocols/ascii.js';
import {
  BitalinoDecoder,
  bitalinoFrameBytes,
  bitalinoRateCommand,
  bitalinoStartCommand,
  decodeBitalino,
  encodeBitalino,
  parseBitalinoCommand,
} from '../src/protocols/bitalino.js';
import {
  CanDecoder,
  encodeCandump,
  encodeCanSamples,
  encodeCanStatus,
  encodeSlcan,
  parseCandump,
  parseSlcan,
  SlcanStreamDecoder,
} from '../src/protocols/can.js';
import { cobsDecode, cobsEncode } from '../src/protocols/cobs.js';
import { crc16 } from '../src/protocols/crc.js';
import { EcgSerialDecoder, encodeEcgSerial } from '../src/protocols/ecg-serial.js';
import type { SampleFrame, StreamDecoder } from '../src/protocols/types.js';
import { fuzzParams } from './fixtures/fuzz.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));
const collect = (d: { onFrame: (f: SampleFrame) => void }) => {
  const frames: SampleFrame[] = [];
  d.onFrame = (f) => frames.push(f);
  return frames;
};

t.test('CRC-16/CCITT-FALSE check value', async (t) => {
  t.equal(crc16(Buffer.from('123456789')), 0x29b1);
});

t.test('COBS: the published examples, and decode(encode(x)) = x', async (t) => {
  const cases: [string, string][] = [
    ['00', '0101'],
    ['0000', '010101'],
    ['11220033', '0311220233'],
    ['11223344', '0511223344'],
    ['11000000', '0211010101'],
  ];
  for (const [raw, enc] of cases) {
    t.equal(hex(cobsEncode(bytes(raw))), enc, raw);
    const out = new Uint8Array(16);
    const n = cobsDecode(bytes(enc), 0, bytes(enc).length, out);
    t.equal(hex(out.subarray(0, n)), raw);
  }
  const run = Uint8Array.from({ length: 254 }, (_, i) => i + 1); // 01..FE: one full block
  t.equal(hex(cobsEncode(run)), `ff${hex(run)}`);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
      const enc = cobsEncode(data);
      if (enc.includes(0)) return false;
      const out = new Uint8Array(data.length + 8);
      const n = cobsDecode(enc, 0, enc.length, out);
      return n === data.length && hex(out.subarray(0, n)) === hex(data);
    }),
    { numRuns: 2000 },
  );
});

t.test('ecg-serial: the test vector of hw/protocols/ecg-serial.md', async (t) => {
  const frame = encodeEcgSerial({
    seq: 0x1234,
    flags: 1,
    sampleRateHz: 500,
    gain: 200,
    baseline: 1024,
    samples: [0, -1, 300],
  });
  t.equal(hex(frame), '0701013412f40101034843020401020301' + '07ffff2c01f3a700');
  const d = new EcgSerialDecoder();
  const got = collect(d);
  d.push(frame);
  t.same(got, [
    {
      seq: 0x1234,
      seqModulus: 65536,
      seqPerSample: false,
      flags: 1,
      samples: Int32Array.of(0, -1, 300),
      sampleRateHz: 500,
      gain: 200,
      baseline: 1024,
    },
  ]);
  const wide = encodeEcgSerial({
    seq: 1,
    flags: 2,
    sampleRateHz: 480,
    gain: 1000,
    baseline: 0,
    samples: [-8388608, 8388607, 5],
  });
  d.push(wide);
  t.same(Array.from(got[1].samples), [-8388608, 8388607, 5], 'int24 when a sample needs it');
  t.equal(got[1].flags, 2);
  const bad = wide.slice();
  bad[8] ^= 0x10;
  d.push(bad);
  t.equal(d.stats.crcErrors, 1, 'a flipped bit is a CRC error');
  t.equal(got.length, 2);
});

t.test('ASCII lines: signs, CRLF, blank lines; garbage lines counted', async (t) => {
  const d = new AsciiDecoder();
  const got = collect(d);
  d.push(Buffer.from('512\r\n-3\n\n+7\n12a\n1\r2\n99999999999\n'));
  t.same(
    got.flatMap((f) => Array.from(f.samples)),
    [512, -3, 7],
  );
  t.equal(d.stats.malformed, 3);
  t.same(Array.from(encodeAscii([1, -2])), Array.from(Buffer.from('1\n-2\n')));
});

t.test('BITalino: commands, frame sizes and the reference bit layout', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map(bitalinoFrameBytes), [3, 4, 6, 7, 8, 8]);
  t.equal(bitalinoRateCommand(1000), 0xc3);
  t.equal(bitalinoStartCommand([1]), 0x09, 'A2 alone, live');
  t.same(parseBitalinoCommand(0x09, false), { type: 'start', channels: [1], simulated: false });
  t.same(parseBitalinoCommand(0x43, false), { type: 'rate', hz: 10 });
  t.same(parseBitalinoCommand(0x00, true), { type: 'stop' });
  // One channel, A1 = 1023, seq 5: A1 = ((d[-2] & 0x0F) << 6) | (d[-3] >> 2) in the vendor's decoder.
  const f = encodeBitalino({ seq: 5, digital: 0b1010, analog: [1023] });
  t.equal(f[0], 0xfc);
  t.equal(f[1], 0xaf);
  t.equal(f[2] >> 4, 5);
  for (let n = 1; n <= 6; n++) {
    const analog = Array.from({ length: n }, (_, i) => (i < 4 ? (137 * (i + 3)) % 1024 : (11 * i) % 64));
    const frame = encodeBitalino({ seq: 9, digital: 3, analog });
    t.same(decodeBitalino(frame, 0, n), { seq: 9, digital: 3, analog }, `${n} channels`);
    for (let bit = 4; bit < 8 * frame.length; bit++) {
      const flipped = frame.slice();
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      if (decodeBitalino(flipped, 0, n) !== null) t.fail(`${n} channels: flip of bit ${bit} passed the CRC`);
    }
  }
});

t.test('CAN: samples and status through the codec, SLCAN and candump lines', async (t) => {
  const s = encodeCanSamples(200, 2, [-1, 0, 32767]);
  t.equal(hex(s.data), 'c882ffff0000ff7f');
  const d = new CanDecoder();
  const got = collect(d);
  d.push(encodeCanStatus({ sampleRateHz: 500, gain: 200.5, baseline: -12, flags: 0, counter: 1 }));
  d.push(s);
  t.same(got[0], {
    seq: 200,
    seqModulus: 256,
    seqPerSample: false,
    flags: 2,
    samples: Int32Array.of(-1, 0, 32767),
    sampleRateHz: 500,
    gain: 200.5,
    baseline: -12,
  });
  t.equal(encodeSlcan(s), 't5208C882FFFF0000FF7F\r');
  t.same(parseSlcan('t5208C882FFFF0000FF7F'), s);
  t.equal(parseSlcan('t5209C882FFFF0000FF7F'), null);
  const line = encodeCandump(s, 1700000000.5, 'can0');
  t.equal(line, '(1700000000.500000) can0 520#C882FFFF0000FF7F');
  t.same(parseCandump(line), { timeS: 1700000000.5, iface: 'can0', frame: s });
  const sl = new SlcanStreamDecoder();
  const viaSerial = collect(sl);
  sl.push(Buffer.from(`\r\x07zzz\r${encodeSlcan(s)}`));
  t.same(Array.from(viaSerial[0].samples), [-1, 0, 32767]);
  t.equal(sl.stats.malformed, 1);
});

// Property tests: every decoder survives 100 000 random and corrupted streams without throwing or
// hanging, and decodes the valid frames that follow garbage exactly.
const RUNS = 100_000;
const samplesArb = fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 1, maxLength: 40 });
const garbageArb = fc.uint8Array({ maxLength: 120 });
const chunked = (d: StreamDecoder, stream: Uint8Array, cut: number) => {
  const step = 1 + (cut % 37);
  for (let i = 0; i < stream.length; i += step) d.push(stream.subarray(i, i + step));
};
const concat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

t.test('ecg-serial decoder: random/corrupted streams, recovery after garbage', async () => {
  fc.assert(
    fc.property(garbageArb, samplesArb, samplesArb, fc.nat(), fc.nat(), (garbage, a, b, cut, flip) => {
      const fa = encodeEcgSerial({ seq: 7, flags: 0, sampleRateHz: 500, gain: 200, baseline: 0, samples: a });
      const fb = encodeEcgSerial({ seq: 8, flags: 0, sampleRateHz: 500, gain: 200, baseline: 0, samples: b });
      const stream = concat(garbage, fa, fb);
      stream[flip % (garbage.length + fa.length - 1)] ^= 1 + (flip % 255); // corrupt garbage or the first frame, not its delimiter
      const d = new EcgSerialDecoder();
      const got = collect(d);
      chunked(d, stream, cut);
      const last = got.at(-1);
      return (
        last !== undefined &&
        last.seq === 8 &&
        hex(new Uint8Array(last.samples.buffer)) === hex(new Uint8Array(Int32Array.from(b).buffer))
      );
    }),
    fuzzParams(RUNS),
  );
});

t.test('ASCII decoder: random streams, recovery after garbage', async () => {
  fc.assert(
    fc.property(garbageArb, samplesArb, fc.nat(), (garbage, values, cut) => {
      const d = new AsciiDecoder();
      const got = collect(d);
      chunked(d, concat(garbage, Buffer.from('\n'), encodeAscii(values)), cut);
      const all = got.flatMap((f) => Array.from(f.samples));
      return all.slice(-values.length).join() === values.join();
    }),
    fuzzParams(RUNS),
  );
});

t.test('BITalino decoder: random streams, locks onto the frames after garbage', async () => {
  fc.assert(
    fc.property(garbageArb, fc.integer({ min: 1, max: 6 }), fc.nat(), fc.nat(15), (garbage, n, cut, seq0) => {
      const frames: Uint8Array[] = [];
      const expect: number[] = [];
      for (let k = 0; k < 10; k++) {
        const analog = Array.from({ length: n }, (_, i) => (k * 97 + i * 31 + cut) % (i < 4 ? 1024 : 64));
        frames.push(encodeBitalino({ seq: seq0 + k, digital: 0, analog }));
        expect.push(analog[0]);
      }
      const d = new BitalinoDecoder(n);
      const got = collect(d);
      chunked(d, concat(garbage, ...frames), cut);
      const all = got.flatMap((f) => Array.from(f.samples));
      return all.slice(-4).join() === expect.slice(-4).join();
    }),
    fuzzParams(RUNS),
  );
});

t.test('CAN and SLCAN decoders: random frames and lines never throw', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0x7ff }),
      fc.uint8Array({ maxLength: 8 }),
      garbageArb,
      (id, data, garbage) => {
        const d = new CanDecoder();
        d.push({ id: id % 2 ? 0x520 : 0x521, data });
        d.push({ id, data });
        const sl = new SlcanStreamDecoder();
        const got = collect(sl);
        const good = encodeCanSamples(1, 0, [5, 6]);
        sl.push(concat(garbage, Buffer.from(`\r${encodeSlcan(good)}`)));
        return got.length > 0 && Array.from(got.at(-1)!.samples).join() === '5,6';
      },
    ),
    fuzzParams(RUNS),
  );
});
