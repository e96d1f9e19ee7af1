import { spawn } from 'node:child_process';
import { mkdtemp, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { createLogger } from '../src/log.js';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { MqttPublisher } from '../src/publish/mqtt-publisher.js';
import { Outbox } from '../src/publish/outbox.js';
import { firstSeen } from './fixtures/delivery.js';
import { waitFor } from './fixtures/wait.js';

const tmp = () => mkdtemp(join(tmpdir(), 'ecg-mqtt-'));
const BASE = 'vehicles/v1';
const quiet = createLogger('silent');

/** A subscriber with a persistent session: the broker queues for it while it is away. */
async function subscriber(
  url: string,
  clientId: string,
): Promise<{ client: MqttClient; seqs: number[]; states: string[] }> {
  const client = mqtt.connect(url, {
    clientId,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 200,
  });
  const seqs: number[] = [];
  const states: string[] = [];
  client.on('message', (topic, payload) => {
    if (topic === `${BASE}/emotion`) seqs.push(JSON.parse(payload.toString()).seq);
    if (topic === `${BASE}/state`) states.push(payload.toString());
  });
  await new Promise<void>((r) => client.once('connect', () => r()));
  await client.subscribeAsync([`${BASE}/emotion`, `${BASE}/state`], { qos: 1 });
  return { client, seqs, states };
}

t.test('broker stopped while events keep coming: every event arrives, in order', async (t) => {
  const dir = await tmp();
  const broker = await Mosquitto.create(dir);
  t.teardown(() => broker.stop());
  const sub = await subscriber(broker.url, 'bench-subscriber');
  t.teardown(() => sub.client.endAsync());
  const outbox = await Outbox.open(join(dir, 'outbox'));
  const pub = new MqttPublisher({
    url: broker.url,
    clientId: 'ecg-emotiond-test',
    baseTopic: BASE,
    outbox,
    info: () => ({ version: 'test' }),
    reconnectMs: 200,
    maxReconnectMs: 1000,
    log: quiet,
  });
  await pub.start();
  t.teardown(() => pub.stop());
  await waitFor(() => pub.connected, 5000);
  let seq = 0;
  for (; seq < 20; seq++) await pub.publish('emotion', { seq });
  await broker.stop();
  t.ok(await waitFor(() => !pub.connected, 10_000), 'the publisher saw the broker go');
  // Events keep coming while it is away (a window's worth every 1.25 s in the field).
  for (; seq < 260; seq++) await pub.publish('emotion', { seq });
  t.ok(outbox.depth >= seq - 20, `${outbox.depth} events waiting in the outbox`);
  await broker.start();
  const all = await waitFor(() => firstSeen(sub.seqs).length === seq, 30_000);
  t.ok(all, `${firstSeen(sub.seqs).length} of ${seq} events arrived`);
  t.same(
    firstSeen(sub.seqs),
    Array.from({ length: seq }, (_, i) => i),
    'none lost, in order',
  );
  await waitFor(() => outbox.depth === 0, 5000);
  t.equal(outbox.depth, 0, 'every PUBACK retired its event');
  t.ok(pub.connects >= 2, 'online re-published after the reconnect');
  t.equal(sub.states.at(-1), 'online');
});

t.test(
  'publisher SIGKILLed while the broker is down: every accepted event arrives after both return',
  async (t) => {
    const dir = await tmp();
    const broker = await Mosquitto.create(dir);
    t.teardown(() => broker.stop());
    const sub = await subscriber(broker.url, 'sigkill-subscriber');
    t.teardown(() => sub.client.endAsync());
    await broker.stop();
    const outboxDir = join(dir, 'outbox');
    const dist = (p: string) => JSON.stringify(join(PROJECT_ROOT, 'dist', ...p.split('/')));
    const script = `
    const { Outbox } = await import(${dist('publish/outbox.js')});
    const { MqttPublisher } = await import(${dist('publish/mqtt-publisher.js')});
    const { createLogger } = await import(${dist('log.js')});
    const outbox = await Outbox.open(${JSON.stringify(outboxDir)});
    const pub = new MqttPublisher({ url: ${JSON.stringify(broker.url)}, clientId: 'victim', baseTopic: ${JSON.stringify(BASE)},
      outbox, info: () => ({}), log: createLogger('silent') });
    await pub.start();
    for (let seq = 0; ; seq++) {
      await pub.publish('emotion', { seq });
      process.stdout.write(seq + '\\n');
      await new Promise((r) => setTimeout(r, 5)); // a publisher's pace: it is killed mid-stream
    }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
    let accepted = -1;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        for (const line of b.toString().split('\n')) if (line) accepted = Number(line);
        if (accepted >= 99) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.on('exit', r));
    await broker.start();
    const outbox = await Outbox.open(outboxDir);
    t.ok(outbox.depth >= accepted + 1, `${outbox.depth} events recovered from the killed publisher's outbox`);
    const pub = new MqttPublisher({
      url: broker.url,
      clientId: 'restarted',
      baseTopic: BASE,
      outbox,
      info: () => ({}),
      log: quiet,
    });
    await pub.start();
    t.teardown(() => pub.stop());
    await waitFor(() => firstSeen(sub.seqs).length >= accepted + 1, 15_000);
    t.same(
      firstSeen(sub.seqs).slice(0, accepted + 1),
      Array.from({ length: accepted + 1 }, (_, i) => i),
      `all ${accepted + 1} accepted events, in order`,
    );
  },
);

t.test('Last Will: a publisher that dies leaves state "offline" retained', async (t) => {
  const dir = await tmp();
  const broker = await Mosquitto.create(dir);
  t.teardown(() => broker.stop());
  const script = `
    const { Outbox } = await import(${JSON.stringify(join(PROJECT_ROOT, 'dist', 'publish', 'outbox.js'))});
    const { MqttPublisher } = await import(${JSON.stringify(join(PROJECT_ROOT, 'dist', 'publish', 'mqtt-publisher.js'))});
    const { createLogger } = await import(${JSON.stringify(join(PROJECT_ROOT, 'dist', 'log.js'))});
    const pub = new MqttPublisher({ url: ${JSON.stringify(broker.url)}, clientId: 'will', baseTopic: ${JSON.stringify(BASE)},
      outbox: await Outbox.open(${JSON.stringify(join(dir, 'ob'))}), info: () => ({ version: 'x' }), log: createLogger('silent') });
    await pub.start();
    setInterval(() => { if (pub.connected) process.stdout.write('up\\n'); }, 50);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  const watcher = await subscriber(broker.url, 'will-watcher');
  t.teardown(() => watcher.client.endAsync());
  await waitFor(() => watcher.states.includes('online'), 3000);
  t.equal(watcher.states[0], 'online', 'retained online on subscribe');
  child.kill('SIGKILL');
  t.ok(await waitFor(() => watcher.states.at(-1) === 'offline', 10_000), 'the broker published the will');
});

t.test('a torn outbox tail: the publisher starts, reports what it cut, and delivers the rest', async (t) => {
  const dir = await tmp();
  const broker = await Mosquitto.create(dir);
  t.teardown(() => broker.stop());
  const sub = await subscriber(broker.url, 'torn-subscriber');
  t.teardown(() => sub.client.endAsync());
  const outboxDir = join(dir, 'outbox');
  const first = await Outbox.open(outboxDir);
  for (let seq = 0; seq < 40; seq++) await first.append(`${BASE}/emotion`, JSON.stringify({ seq }));
  await first.close();
  const file = join(outboxDir, 'outbox.log');
  await truncate(file, (await stat(file)).size - 5); // the power went mid-write
  const lines: string[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write(c, _e, done) {
        lines.push(String(c));
        done();
      },
    }),
  );
  const outbox = await Outbox.open(outboxDir);
  const pub = new MqttPublisher({
    url: broker.url,
    clientId: 'torn',
    baseTopic: BASE,
    outbox,
    info: () => ({}),
    log,
  });
  await pub.start();
  t.teardown(() => pub.stop());
  t.ok(
    lines.some((l) =>
      /outbox: cut \d+ bytes of torn or corrupt records: 1 records, so up to 1 accepted events lost; 39 events pending/.test(
        l,
      ),
    ),
    'the cut is reported, with the events it may have lost',
  );
  t.ok(await waitFor(() => firstSeen(sub.seqs).length === 39, 10_000));
  t.same(
    firstSeen(sub.seqs),
    Array.from({ length: 39 }, (_, i) => i),
    'the 39 intact events, in order',
  );
});

t.test(
  'an outbox that fails to write: the event is refused, counted and logged once; nothing throws',
  async (t) => {
    const dir = await tmp();
    const lines: string[] = [];
    const log = createLogger(
      'info',
      new Writable({
        write(c, _e, done) {
          lines.push(String(c));
          done();
        },
      }),
    );
    const outbox = await Outbox.open(join(dir, 'outbox'));
    const pub = new MqttPublisher({
      url: 'mqtt://127.0.0.1:1', // nobody there: the outbox is the whole story
      clientId: 'refused',
      baseTopic: BASE,
      outbox,
      info: () => ({}),
      log,
    });
    t.type(await pub.publish('emotion', { seq: 1 }), 'bigint', 'accepted while the outbox works');
    await outbox.close(); // its file handle is gone: every write now fails (EBADF)
    t.equal(await pub.publish('emotion', { seq: 2 }), null);
    t.equal(await pub.publish('emotion', { seq: 3 }), null);
    t.equal(pub.refused, 2);
    const errors = lines.filter((l) => l.includes('outbox write failed'));
    t.equal(errors.length, 1, 'one line for a failing minute');
    t.match(
      JSON.parse(errors[0]).msg,
      /^outbox write failed \(\w+\): event not accepted; 1 events refused so far$/,
    );
  },
);
