import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { PROJECT_ROOT } from '../src/analysis/data-dir.js';
import { ptyPair } from '../src/hil/pty-pair.js';
import { Mosquitto } from '../src/publish/mosquitto.js';
import { payloadProblems, type Topic } from '../src/publish/payloads.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
const waitFor = async (cond: () => boolean, ms: number) => {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return cond();
};

t.test(
  'run: ECG replayed over a pty becomes validated MQTT events; SIGTERM stops it within 2 s with "offline"',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-run-'));
    const broker = await Mosquitto.create(dir);
    t.teardown(() => broker.stop());
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    await writeFile(
      join(dir, 'config.yaml'),
      [
        'vehicleId: test-car',
        'source:',
        `  path: ${pty.b}`,
        '  protocol: ecg-serial',
        'mqtt:',
        `  url: ${broker.url}`,
        'outbox:',
        `  dir: ${join(dir, 'outbox')}`,
        'log:',
        '  level: info',
        '',
      ].join('\n'),
    );
    const received: { topic: string; body: unknown; retain: boolean }[] = [];
    const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    t.teardown(() => sub.endAsync());
    await sub.subscribeAsync('ecg-emotiond/test-car/#', { qos: 1 });
    sub.on('message', (topic, payload, packet) => {
      const name = topic.slice('ecg-emotiond/test-car/'.length);
      received.push({
        topic: name,
        body: name === 'state' ? payload.toString() : JSON.parse(payload.toString()),
        retain: packet.retain,
      });
    });

    const daemon = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'config.yaml')]);
    let log = '';
    daemon.stderr.on('data', (b) => (log += b));
    t.ok(await waitFor(() => log.includes('ecg-emotiond running'), 20_000), 'started');
    t.match(log, /execution provider tensorrt skipped/);
    const replay = spawn(process.execPath, [
      BIN,
      'replay',
      join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt'),
      '--to',
      `serial:${pty.a}`,
      '--to-seconds',
      '60',
      '--speed',
      '15',
    ]);
    t.equal(await new Promise((r) => replay.on('exit', r)), 0, 'replay finished');
    t.ok(
      await waitFor(() => received.some((m) => m.topic === 'emotion'), 10_000),
      'emotion events on the bus',
    );
    await new Promise((r) => setTimeout(r, 500));
    const topics = new Set(received.map((m) => m.topic));
    for (const topic of ['state', 'info', 'emotion', 'emotion/state', 'heart_rate', 'signal_quality'])
      t.ok(topics.has(topic), topic);
    const invalid = received.filter((m) => payloadProblems(m.topic as Topic, m.body).length > 0);
    t.same(invalid, [], 'every payload validates against its schema');
    const quality = received.filter((m) => m.topic === 'signal_quality').length;
    t.ok(quality >= 40, `${quality} windows rated (60 s at a 1.25 s hop)`);
    t.match(log, /streaming at 496 Hz/, 'the rate the wire reported');

    const t0 = Date.now();
    daemon.kill('SIGTERM');
    const code = await new Promise((r) => daemon.on('exit', r));
    const ms = Date.now() - t0;
    t.equal(code, 0);
    t.ok(ms <= 2500, `stopped in ${ms} ms`);
    t.ok(await waitFor(() => received.at(-1)?.body === 'offline', 3000), 'offline published on the way out');
  },
);
