import { existsSync } from 'node:fs';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { freePort, Mosquitto } from '../src/bench/harness/mosquitto.js';
import { waitFor } from './fixtures/wait.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const RECORD = join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt');

interface Health {
  alive: boolean;
  events: { new: number; update: number; end: number };
  outboxDepth: number;
  mqttConnected: boolean;
  source: { state: string };
}

t.test(
  'the running daemon through serial unplug, a killed broker and its own SIGKILL: no accepted event lost',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-faults-'));
    // autosave every second: the subscriber's persistent session survives the broker's SIGKILL.
    const broker = await Mosquitto.create(dir, 'autosave_interval 1\n');
    t.teardown(() => broker.stop());
    let pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const port = await freePort();
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      [
        'vehicleId: faults',
        'source:',
        `  path: ${pty.b}`,
        '  protocol: ecg-serial',
        'mqtt:',
        `  url: ${broker.url}`,
        '  reconnectMs: 100',
        '  maxReconnectMs: 500',
        'outbox:',
        `  dir: ${join(dir, 'outbox')}`,
        'eventLog:',
        `  path: ${join(dir, 'events.jsonl')}`,
        'health:',
        '  enabled: true',
        `  port: ${port}`,
        '',
      ].join('\n'),
    );
    const eventIds = new Set<string>();
    let copies = 0;
    const sub = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: 'faults-subscriber',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 100,
    });
    t.teardown(() => sub.endAsync(true));
    await sub.subscribeAsync('ecg-emotiond/faults/emotion', { qos: 1 });
    sub.on('message', (_topic, payload) => {
      eventIds.add((JSON.parse(payload.toString()) as { eventId: string }).eventId);
      copies++;
    });
    // The subscriber's session is on disk once mosquitto has autosaved it.
    t.ok(await waitFor(() => existsSync(join(dir, 'mosquitto.db')), 10_000), 'the session is autosaved');

    const health = async (): Promise<Health | null> =>
      fetch(`http://127.0.0.1:${port}/healthz`).then(
        async (r) => (await r.json()) as Health,
        () => null,
      );
    const accepted = (h: Health | null) => (h ? h.events.new + h.events.update + h.events.end : 0);
    const start = () => {
      const p = spawn(process.execPath, [BIN, 'run', '--config', config]);
      const out = { log: '', exit: null as number | null, proc: p as ChildProcess };
      p.stderr.on('data', (b) => (out.log += b));
      p.on('exit', (code) => (out.exit = code));
      return out;
    };
    /** Samples replayed so far: the daemon has seen them all once its count reaches this. */
    let replayed = 0;
    const replay = async (from: number) => {
      const r = spawn(process.execPath, [
        BIN,
        'replay',
        RECORD,
        '--target',
        `serial:${pty.a}`,
        '--from',
        String(from),
        '--to',
        String(from + 20),
        '--speed',
        '10',
        '--json',
      ]);
      let out = '';
      r.stdout.on('data', (b) => (out += b));
      const code = await new Promise((res) => r.on('exit', res));
      if (code === 0) replayed += (JSON.parse(out) as { samples: number }).samples;
      return code;
    };
    /** /metrics as name{labels} → value. */
    const metrics = async () => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      const m = new Map<string, number>();
      for (const line of text.split('\n')) {
        const [key, value] = line.split(' ');
        if (key && !key.startsWith('#')) m.set(key, Number(value));
      }
      return (name: string) => m.get(`ecg_emotiond_${name}`) ?? 0;
    };
    /**
     * Until the daemon has decided everything it was given: every replayed sample counted, every
     * usable window scored (or skipped while busy), every decided event stored in the outbox.
     */
    const settled = async () => {
      let seen = '';
      const done = await waitFor(async () => {
        const m = await metrics();
        const usable = m('windows_total{quality="good"}') + m('windows_total{quality="acceptable"}');
        const scored = m('inference_seconds_count') + m('windows_skipped_busy_total');
        const decided = ['new', 'update', 'end'].reduce((n, k) => n + m(`events_total{type="${k}"}`), 0);
        const stored = m('publish_seconds_count');
        seen = `samples ${m('samples_total')}/${replayed}, windows ${scored}/${usable}, stored ${stored}/${decided}`;
        return m('samples_total') === replayed && usable === scored && stored === decided;
      }, 15_000);
      t.ok(done, `settled: ${seen}`);
      return (await health())!;
    };

    const d1 = start();
    t.teardown(() => d1.proc.kill('SIGKILL'));
    t.ok(await waitFor(() => d1.log.includes('ecg-emotiond running'), 20_000), 'started');
    t.equal(await replay(0), 0);
    t.ok(await waitFor(() => eventIds.size > 0, 10_000), 'events on the bus');

    // 1. Serial unplug and replug on the same path.
    await pty.stop();
    t.ok(await waitFor(() => /source disconnected/.test(d1.log), 5000), 'the unplug is noticed');
    const back = Date.now();
    pty = await ptyPair(dir);
    t.ok(await waitFor(() => (d1.log.match(/source connected/g) ?? []).length >= 2, 10_000), 'reconnected');
    t.comment(`reconnected ${Date.now() - back} ms after the path reappeared (backoff capped at 1 s)`);
    const beforeReplug = eventIds.size;
    t.equal(await replay(20), 0);
    t.ok(await waitFor(() => eventIds.size > beforeReplug, 10_000), 'events again after the replug');
    let h = await settled();
    t.ok(await waitFor(() => eventIds.size === accepted(h), 10_000), 'every event so far delivered');

    // 2. The broker is killed while ECG flows, then restarted: the outbox holds the events meanwhile.
    await broker.stop('SIGKILL');
    t.equal(await replay(40), 0);
    h = await settled();
    t.ok(h.outboxDepth > 0, `${h.outboxDepth} messages held in the outbox while the broker is down`);
    t.equal(h.mqttConnected, false);
    t.equal(d1.exit, null, 'the daemon carries on');
    await broker.start();
    t.ok(await waitFor(async () => (await health())?.outboxDepth === 0, 15_000), 'the outbox drains');
    t.ok(await waitFor(() => eventIds.size === accepted(h), 10_000), `all ${accepted(h)} events delivered`);

    // 3. The daemon is SIGKILLed while the broker is down again: its successor delivers the backlog.
    await broker.stop('SIGKILL');
    t.equal(await replay(60), 0);
    h = await settled();
    t.ok(h.outboxDepth > 0);
    const total = accepted(h);
    d1.proc.kill('SIGKILL');
    await waitFor(() => d1.exit !== null || d1.proc.signalCode !== null, 5000);
    await broker.start();
    const d2 = start();
    t.teardown(() => d2.proc.kill('SIGKILL'));
    t.ok(
      await waitFor(() => eventIds.size === total, 20_000),
      `${eventIds.size} of ${total} accepted events delivered`,
    );
    t.ok(copies >= eventIds.size, `${copies - eventIds.size} duplicates (at least once)`);
    t.match(d2.log, /outbox: \d+ events pending from before/, 'the successor found the backlog');

    // The killed daemon's event log (moved to .1 by its successor) still makes a report.
    const r = spawnSync(
      process.execPath,
      [BIN, 'report', join(dir, 'events.jsonl.1'), '--out', join(dir, 'r.html')],
      {
        encoding: 'utf8',
      },
    );
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /report: \S+r\.html \((\d+) windows\)/);

    // SIGHUP: a broken file is refused and the running config kept; a good one applies live.
    const good = await readFile(config, 'utf8');
    await writeFile(config, `${good}decision:\n  minConfidence: 2\n`);
    d2.proc.kill('SIGHUP');
    t.ok(await waitFor(() => /SIGHUP: config not applied, keeping the running one/.test(d2.log), 5000));
    t.match(d2.log, /decision\.minConfidence: must be <= 1/, 'the reason, naming the key');
    t.equal(d2.exit, null, 'still running');
    await writeFile(config, `${good}decision:\n  minConfidence: 0.7\nlog:\n  level: debug\n`);
    d2.proc.kill('SIGHUP');
    t.ok(await waitFor(() => /configuration re-read/.test(d2.log), 5000));
    const applied = JSON.parse(d2.log.split('\n').find((l) => l.includes('configuration re-read'))!) as {
      logLevel: string;
      decision: { minConfidence: number };
      applied: string[];
      needsRestart: string[];
    };
    t.same(applied.applied.sort(), ['decision', 'log'], 'what changed and applies live');
    t.same(applied.needsRestart, [], 'nothing else changed');
    t.equal(applied.logLevel, 'debug');
    t.equal(applied.decision.minConfidence, 0.7);
    t.equal((await health())?.alive, true);

    d2.proc.kill('SIGTERM');
    t.ok(await waitFor(() => d2.exit !== null, 3000));
    t.equal(d2.exit, 0);
  },
);
