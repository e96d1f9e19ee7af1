import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { encodeCandump, encodeCanSamples, encodeCanStatus } from '../src/protocols/can.js';
import { capture } from '../src/hil/capture.js';
import { openChannel } from '../src/records/open.js';
import {
  loadSocketCan,
  type RawChannel,
  type SocketCanModule,
  SocketCanSource,
} from '../src/sources/socketcan-source.js';
import { waitFor } from './fixtures/wait.js';

t.test(
  'record --source candump:FILE: a vehicle log becomes a record, samples in order, a dropped frame a gap, foreign and broken lines skipped',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-can-'));
    const lines: string[] = [
      encodeCandump(
        encodeCanStatus({ sampleRateHz: 500, gain: 200, baseline: 0, flags: 0, counter: 0 }),
        10,
        'can0',
      ),
    ];
    const expected: number[] = [];
    for (let seq = 0; seq < 300; seq++) {
      const samples = [seq * 3, seq * 3 + 1, seq * 3 + 2].map((v) => (v % 2000) - 1000);
      if (seq === 100) continue; // lost on the bus
      expected.push(...samples);
      lines.push(encodeCandump(encodeCanSamples(seq & 0xff, 0, samples), 10 + seq * 0.006, 'can0'));
      if (seq === 50)
        lines.push('(10.300000) can0 7DF#0201', '(10.3) can0 garbage', '(10.300001) can1 520#00000000');
    }
    await writeFile(join(dir, 'log.txt'), `${lines.join('\n')}\n`);
    const out = join(dir, 'captured');
    const r = await capture({
      candumpFile: join(dir, 'log.txt'),
      candumpIface: 'can0',
      out,
      path: '',
      baudRate: 0,
      protocol: 'slcan',
    });
    const got: number[] = [];
    for await (const c of (await openChannel(out)).chunks()) got.push(...c.digital!);
    t.same(got, expected, 'every sample that was on the bus, in order');
    t.match(await readFile(`${out}.hea`, 'utf8'), /^captured 1 500 /, 'rate from the status frame');
    const arrivals = (await readFile(`${out}.arrivals.csv`, 'utf8')).trim().split('\n');
    t.equal(
      arrivals.filter((l) => l.endsWith(',3')).length,
      1,
      'one frame of 3 samples missing, before the next',
    );
    t.equal(r.malformed, 1, 'the unparseable line');
    t.equal(r.gaps, 1);
    t.equal(r.lostSamples, 3);
    await t.rejects(
      capture({ candumpFile: join(dir, 'nope.txt'), out, path: '', baudRate: 0, protocol: 'slcan' }),
      /nope\.txt: cannot read the candump log \(ENOENT\)/,
      'a missing log: one line naming it',
    );
  },
);

/** The only mock in the suite: this kernel has no SocketCAN, so the socketcan package's channel is faked. */
class FakeChannel extends EventEmitter implements RawChannel {
  started = false;
  start() {
    this.started = true;
  }
  stop() {
    this.started = false;
  }
  send(id: number, data: Uint8Array, extra: object = {}) {
    this.emit('onMessage', { id, data: Buffer.from(data), ...extra });
  }
}

t.test(
  'SocketCAN source: frames decoded, interface down → disconnected → reopened, never throws',
  async (t) => {
    const channels: FakeChannel[] = [];
    const mod: SocketCanModule = {
      createRawChannel: (iface) => {
        if (iface !== 'vcan0') throw new Error(`no such device ${iface}`);
        const c = new FakeChannel();
        channels.push(c);
        return c;
      },
    };
    const source = new SocketCanSource({ iface: 'vcan0', retryMs: 20 }, async () => mod);
    const states: string[] = [];
    const got: number[] = [];
    source.onState = (s) => states.push(s);
    source.onFrame = (f) => got.push(...f.samples);
    source.start();
    t.teardown(() => source.stop());
    t.ok(await waitFor(() => channels.length === 1, 5000), 'opened');
    channels[0].send(0x520, encodeCanSamples(0, 0, [1, 2, 3]).data);
    channels[0].send(0x520, encodeCanSamples(1, 0, [4]).data, { ext: true }); // extended id: not ours
    channels[0].send(0x123, Uint8Array.of(1, 2)); // other traffic
    channels[0].emit('onStopped'); // ip link set vcan0 down
    t.ok(await waitFor(() => channels.length === 2, 5000), 'reopened');
    channels[1].send(0x520, encodeCanSamples(1, 0, [5, 6]).data);
    t.same(got, [1, 2, 3, 5, 6]);
    t.same(states, ['silent', 'connected', 'disconnected', 'silent', 'connected']);
    t.equal(source.stats.reconnects, 1);

    const missing = new SocketCanSource({ iface: 'can7', retryMs: 10_000 }, async () => mod);
    const why: string[] = [];
    missing.onState = (s, d) => why.push(`${s}: ${d}`);
    missing.start();
    t.ok(await waitFor(() => why.length > 0, 5000));
    await missing.stop();
    t.same(why, ['disconnected: no such device can7']);
  },
);

t.test(
  'a CAN interface that cannot be opened here: disconnected, naming the interface and why',
  async (t) => {
    // Read from the platform: with the socketcan package built, this kernel's missing CAN is the
    // reason; without it, what to install.
    const hasPackage = await loadSocketCan().then(
      () => true,
      () => false,
    );
    const source = new SocketCanSource({ iface: 'can0', retryMs: 10_000 });
    const why: string[] = [];
    source.onState = (s, d) => why.push(`${s}: ${d}`);
    source.start();
    t.ok(await waitFor(() => why.length > 0, 10_000));
    await source.stop();
    t.match(why[0], /^disconnected: .*can0/, 'names the interface');
    if (!hasPackage) t.match(why[0], /SocketCAN needs the optional "socketcan" package/);
  },
);
