import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { ExitCode } from '../src/cli/exit-codes.js';
import { createLogger } from '../src/log.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { MqttPublisher } from '../src/publish/mqtt-publisher.js';
import { Outbox } from '../src/publish/outbox.js';
import { emotionPayload } from '../src/publish/payloads.js';
import { Postgres } from './fixtures/postgres.js';
import { waitFor } from './fixtures/wait.js';

// `events sink`, the fleet's consumer, against a real mosquitto and a real PostgreSQL: killed,
// restarted, its database restarted under it; every event stored once.

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/** The sink as a process: its status lines, and a promise of its exit. */
function startSink(broker: string, store: string, extra: string[] = []) {
  const proc: ChildProcess = spawn(
    process.execPath,
    [BIN, 'events', 'sink', '--broker', broker, '--store', store, '--client-id', 'sink-test', ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: string[] = [];
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const listening = () => lines.some((l) => l.startsWith('listening on '));
  return { proc, lines, exited, listening };
}

/** A vehicle: the daemon's publisher and outbox; `emit` publishes one real `emotion` event. */
async function vehicle(t: Test, dir: string, broker: string, id: string) {
  const outbox = await Outbox.open(join(dir, `outbox-${id}`));
  const pub = new MqttPublisher({
    url: broker,
    clientId: `ecg-emotiond-${id}`,
    baseTopic: `ecg-emotiond/${id}`,
    outbox,
    info: () => ({}),
    log: createLogger('silent'),
  });
  await pub.start();
  t.teardown(async () => {
    await pub.stop();
    await outbox.close();
  });
  const ids: string[] = [];
  const emit = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const p = emotionPayload(
        {
          type: 'update',
          episodeId: '3f1c1e1a-5a7e-4a54-9d51-0c9d3b8f2a10',
          label: 'medium',
          confidence: 0.7,
          probabilities: { low: 0.2, medium: 0.7, high: 0.1 },
          episodeStartMs: 0,
          windowStartMs: i * 1000,
          windowEndMs: i * 1000 + 5000,
        },
        {
          heartRateBpm: 72,
          signalQuality: 'good',
          model: { name: 'test', version: '1', precision: 'int8' },
          provider: 'cpu',
          inferenceMs: 5,
          totalMs: 6,
        },
      );
      ids.push(p.eventId);
      await pub.publish('emotion', p);
    }
  };
  return { pub, outbox, ids, emit };
}

/**
 * The fleet side for one test: a mosquitto and a throwaway PostgreSQL, stopped at its end. mosquitto
 * gets a folder of its own: PostgreSQL's fixture narrows `dir` to 0755, and mosquitto (its own user)
 * must still write its persistence, or a restart would forget every session.
 */
async function fleetSide(t: Test, brokerConf = '') {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-sink-'));
  await mkdir(join(dir, 'broker'));
  const broker = await Mosquitto.create(join(dir, 'broker'), brokerConf);
  t.teardown(() => broker.stop());
  const db = await Postgres.create(dir);
  t.teardown(() => db.stop());
  return { dir, broker, db };
}

const rowCount = async (db: Postgres) =>
  Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM emotion_events'))[0].n);

t.test(
  'killed with SIGKILL and started again: every event stored once, none lost, a redelivered copy and invalid ones turned away',
  async (t) => {
    // A fleet broker keeps more for a stopped consumer than mosquitto's default 1000 messages.
    const { dir, broker, db } = await fleetSide(t, 'max_queued_messages 100000\n');

    // The first start makes the sink's session and subscription; while it is stopped the broker
    // queues for it, so the next start meets a backlog, and a kill lands in the middle of it.
    let sink = startSink(broker.url, db.url);
    t.teardown(() => void sink.proc.kill('SIGKILL'));
    t.ok(await waitFor(sink.listening, 20_000), sink.lines.join(' | '));
    sink.proc.kill('SIGTERM');
    t.equal(await sink.exited, 0, 'SIGTERM: a clean stop');
    const car = await vehicle(t, dir, broker.url, 'v1');
    t.ok(await waitFor(() => car.pub.connected, 5000));
    await car.emit(1000);
    t.ok(await waitFor(() => car.outbox.depth === 0, 10_000), 'the broker took every event');

    sink = startSink(broker.url, db.url);
    t.ok(await waitFor(async () => (await rowCount(db).catch(() => 0)) >= 50, 20_000), 'the sink is storing');
    sink.proc.kill('SIGKILL'); // mid-stream: some rows committed, some PUBACKs never sent
    await sink.exited;
    const atKill = await rowCount(db);
    t.ok(atKill < 1000, `killed mid-stream, at ${atKill} rows of 1000`);
    await car.emit(500); // while the sink is down: the broker keeps them for its session
    // A copy of an event already stored (what a QoS 1 redelivery or a second path brings), and a
    // message that breaks the contract.
    const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const first = (await db.query<{ payload: unknown }>('SELECT payload FROM emotion_events LIMIT 1'))[0]
      .payload;
    await raw.publishAsync('ecg-emotiond/v1/emotion', JSON.stringify(first), { qos: 1 });
    await raw.publishAsync('ecg-emotiond/v1/emotion', JSON.stringify({ label: 'calm' }), { qos: 1 });
    // Two that pass the schema and that PostgreSQL refuses: they must not stop the sink.
    const fresh = (patch: object) =>
      JSON.stringify({ ...(first as object), eventId: '0b8a3c52-7e57-4c1e-9a38-5a1d2f9e0c11', ...patch });
    await raw.publishAsync('ecg-emotiond/v1/emotion', fresh({ time: '2026-02-30T10:00:00Z' }), { qos: 1 });
    await raw.publishAsync('ecg-emotiond/v1/emotion', fresh({ label: 'me\u0000dium' }), { qos: 1 });
    await raw.endAsync();
    t.ok(await waitFor(() => car.outbox.depth === 0, 10_000), 'the broker took every event');

    sink = startSink(broker.url, db.url);
    t.ok(await waitFor(sink.listening, 20_000), sink.lines.join(' | '));
    t.ok(
      await waitFor(async () => (await rowCount(db)) >= 1500, 60_000),
      `${await rowCount(db)} of 1500 rows after the restart`,
    );
    sink.proc.kill('SIGTERM');
    t.equal(await sink.exited, 0, 'SIGTERM: a clean stop');
    const rows = await db.query<{ event_id: string; vehicle_id: string }>(
      'SELECT event_id, vehicle_id FROM emotion_events',
    );
    t.equal(rows.length, 1500, 'no double rows');
    t.same(rows.map((r) => r.event_id).sort(), [...car.ids].sort(), 'exactly the events the vehicle decided');
    t.ok(
      rows.every((r) => r.vehicle_id === 'v1'),
      'the vehicle id from the topic',
    );
    t.match(
      sink.lines.at(-1),
      /^\d+ stored, [1-9]\d* duplicates skipped, 3 invalid$/,
      sink.lines.at(-1) ?? '',
    );
    t.ok(
      sink.lines.some((l) =>
        /^invalid event on ecg-emotiond\/v1\/emotion \(not stored; 1 so far\): .*required/.test(l),
      ),
      'the invalid one is named in a line',
    );
  },
);

t.test('its database restarts under it: events wait at the broker, then each is stored once', async (t) => {
  const { dir, broker, db } = await fleetSide(t);
  const sink = startSink(broker.url, db.url);
  t.teardown(() => void sink.proc.kill('SIGKILL'));
  t.ok(await waitFor(sink.listening, 20_000), sink.lines.join(' | '));
  const car = await vehicle(t, dir, broker.url, 'v2');
  await car.emit(10);
  t.ok(await waitFor(async () => (await rowCount(db)) === 10, 20_000));
  await db.stop();
  await car.emit(10);
  t.ok(
    await waitFor(() => sink.lines.some((l) => /retrying, events wait at the broker$/.test(l)), 20_000),
    'the lost database is said in a line',
  );
  await db.start();
  t.ok(await waitFor(async () => (await rowCount(db)) === 20, 60_000), `${await rowCount(db)} of 20 rows`);
  t.ok(sink.lines.some((l) => /: writing again$/.test(l)));
  sink.proc.kill('SIGTERM');
  t.equal(await sink.exited, 0);
  const ids = (await db.query<{ event_id: string }>('SELECT event_id FROM emotion_events')).map(
    (r) => r.event_id,
  );
  t.same(ids.sort(), [...car.ids].sort());
});

// mosquitto 2.0 restarted from its persistence keeps an offline session's plain subscriptions but
// not its shared ones: what is published before the sink is back is not queued for a shared group
// (docs/fleet.md), and the restored shared subscription receives nothing, even subscribed again,
// until it is unsubscribed first. A plain subscription (--no-share) loses nothing; a shared one is
// made anew at every reconnect, without which the sink would hear nothing more at all.
for (const share of [true, false]) {
  t.test(
    `the fleet broker restarts under it${share ? '' : ', --no-share'}: the sink rejoins, every event stored once`,
    async (t) => {
      const { dir, broker, db } = await fleetSide(t);
      const sink = startSink(broker.url, db.url, share ? [] : ['--no-share']);
      t.teardown(() => void sink.proc.kill('SIGKILL'));
      t.ok(await waitFor(sink.listening, 20_000), sink.lines.join(' | '));
      const car = await vehicle(t, dir, broker.url, 'v3');
      await car.emit(10);
      t.ok(await waitFor(async () => (await rowCount(db)) === 10, 20_000));
      await broker.stop(); // persistence on: sessions and queued messages are saved
      if (!share) await car.emit(10); // into the vehicle's outbox while the broker is away
      await broker.start();
      t.ok(
        await waitFor(() => sink.lines.some((l) => / subscribed to .* again$/.test(l)), 20_000),
        'the sink reconnected and subscribed again',
      );
      if (share) await car.emit(10);
      t.ok(
        await waitFor(async () => (await rowCount(db)) === 20, 30_000),
        `${await rowCount(db)} of 20 rows`,
      );
      sink.proc.kill('SIGTERM');
      t.equal(await sink.exited, 0);
      const ids = (await db.query<{ event_id: string }>('SELECT event_id FROM emotion_events')).map(
        (r) => r.event_id,
      );
      t.same(ids.sort(), [...car.ids].sort());
    },
  );
}

t.test(
  'a database or broker that is not there: one line naming it, exit 6; a bad option, exit 2',
  async (t) => {
    const { broker, db } = await fleetSide(t);
    /** The sink run to its exit (each case here fails before it listens). */
    const sinkOnce = (args: string[]) =>
      spawnSync(process.execPath, [BIN, 'events', 'sink', ...args], { encoding: 'utf8', timeout: 30_000 });
    const noDb = sinkOnce(['--broker', broker.url, '--store', 'postgres://fleet:secret@127.0.0.1:1/fleet']);
    t.equal(noDb.status, ExitCode.Unavailable);
    t.match(
      noDb.stderr.trim(),
      /^[^\n]*PostgreSQL postgres:\/\/fleet:\*\*\*@127\.0\.0\.1:1\/fleet: .*ECONNREFUSED[^\n]*$/,
    );
    t.notMatch(noDb.stderr, /secret/, 'the password is not printed');
    const noBroker = sinkOnce(['--broker', 'mqtt://127.0.0.1:1', '--store', db.url]);
    t.equal(noBroker.status, ExitCode.Unavailable);
    for (const bad of [
      ['--store', 'fleet.db'],
      ['--broker', 'localhost:1883'],
      ['--base', 'ecg-emotiond/#'],
      ['--group', 'a/b'],
      ['--session-expiry', '-1'],
    ]) {
      const args = { '--broker': broker.url, '--store': db.url, [bad[0]]: bad[1] };
      const r = sinkOnce(Object.entries(args).flat());
      t.equal(r.status, ExitCode.Usage, `${bad.join(' ')}: exit 2`);
      t.match(r.stderr.trim(), new RegExp(`^error: option '${bad[0]} [^\\n]*must be`), r.stderr.trim());
    }
    t.match(noBroker.stderr.trim(), /^[^\n]*mqtt:\/\/127\.0\.0\.1:1: [^\n]*$/);
  },
);
