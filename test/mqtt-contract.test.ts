import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { EmotionDecider } from '../src/decision/decider.js';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import {
  emotionPayload,
  emotionStatePayload,
  heartRatePayload,
  payloadProblems,
  signalQualityPayload,
  TOPIC_SCHEMAS,
  TOPICS,
  vssHeartRatePayload,
} from '../src/publish/payloads.js';
import { waitFor } from './fixtures/wait.js';

const context = {
  heartRateBpm: 72.5,
  signalQuality: 'good' as const,
  model: { name: 'driver-stress-drivedb', version: '0.1.0', precision: 'int8' as const },
  provider: 'cpu',
  inferenceMs: 21.3,
  totalMs: 24.9,
};

t.test(
  'every payload the daemon builds validates against its topic schema; broken ones do not',
  async (t) => {
    const d = new EmotionDecider(['low', 'medium', 'high']);
    let now = Date.now();
    const decisions = [
      [0.1, 0.1, 0.8],
      [0.1, 0.1, 0.8],
      [0.8, 0.1, 0.1],
      [0.8, 0.1, 0.1],
      [0.8, 0.1, 0.1],
    ].flatMap((p) =>
      d.push({ probabilities: p, quality: 'good', startMs: (now += 1250) - 5000, endMs: now }),
    );
    t.ok(decisions.some((x) => x.type === 'end'));
    for (const dec of decisions)
      t.same(payloadProblems('emotion', emotionPayload(dec, context)), [], dec.type);
    t.same(
      payloadProblems(
        'emotion/state',
        emotionStatePayload({ label: 'low', episodeId: decisions[0].episodeId, confidence: 0.7 }),
      ),
      [],
    );
    t.same(payloadProblems('emotion/state', emotionStatePayload(null)), []);
    t.same(
      payloadProblems(
        'heart_rate',
        heartRatePayload(
          { bpm: 71, rmssdMs: 32.1, sdnnMs: 45.2, pnn50: 0.1, nnIntervals: 5 },
          { startMs: now - 5000, endMs: now },
        ),
      ),
      [],
    );
    t.same(
      payloadProblems(
        'signal_quality',
        signalQualityPayload('unusable', ['saturated'], { startMs: now - 5000, endMs: now }),
      ),
      [],
    );
    t.same(payloadProblems('state', 'online'), []);
    t.same(payloadProblems('vss/Vehicle.Driver.HeartRate', vssHeartRatePayload(72.4)), []);
    t.equal(vssHeartRatePayload(72.6).value, 73);
    const bad = { ...emotionPayload(decisions[0], context), confidence: 1.5 };
    t.match(payloadProblems('emotion', bad).join(), /confidence must be <= 1/);
    const { eventId: _, ...noId } = emotionPayload(decisions[0], context);
    t.match(payloadProblems('emotion', noId).join(), /must have required property 'eventId'/);
    t.not(
      emotionPayload(decisions[0], context).eventId,
      emotionPayload(decisions[0], context).eventId,
      'an id per message',
    );
  },
);

t.test('schemas/mqtt/ holds exactly the schemas the daemon validates with', async (t) => {
  for (const topic of TOPICS) {
    const file = JSON.parse(
      await readFile(
        join(PROJECT_ROOT, 'schemas', 'mqtt', `${topic.replaceAll('/', '-')}.schema.json`),
        'utf8',
      ),
    );
    t.same(file, JSON.parse(JSON.stringify(TOPIC_SCHEMAS[topic])), topic);
  }
  const vss = await readFile(join(PROJECT_ROOT, 'schemas', 'vss', 'ecg-emotiond.vspec'), 'utf8');
  t.match(vss, /Vehicle\.Driver\.HeartRate:\n {2}datatype: uint16/);
  t.match(vss, /Vehicle\.Driver\.Emotion\.Label:/);
});

t.test('events tail prints and validates what arrives, and exits 1 on an invalid payload', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-tail-'));
  const broker = await Mosquitto.create(dir);
  t.teardown(() => broker.stop());
  const tail = spawn(process.execPath, [
    join(PROJECT_ROOT, 'dist', 'cli', 'main.js'),
    'events',
    'tail',
    '--broker',
    broker.url,
    '--count',
    '3',
  ]);
  let out = '';
  let err = '';
  tail.stdout.on('data', (b) => (out += b));
  tail.stderr.on('data', (b) => (err += b));
  t.ok(await waitFor(() => err.includes('listening'), 20_000), 'the tail is listening');
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  const d = new EmotionDecider(['low', 'medium', 'high']);
  const [dec] = d.push({ probabilities: [0.1, 0.1, 0.8], quality: 'good', startMs: 1, endMs: 5001 });
  await pub.publishAsync('ecg-emotiond/v1/state', 'online', { qos: 1 });
  await pub.publishAsync('ecg-emotiond/v1/emotion', JSON.stringify(emotionPayload(dec, context)), { qos: 1 });
  await pub.publishAsync('ecg-emotiond/v1/emotion', JSON.stringify({ label: 'x' }), { qos: 1 });
  await pub.endAsync();
  const code = await new Promise((r) => tail.on('exit', r));
  const lines = out.trim().split('\n');
  t.equal(lines.length, 3);
  t.match(lines[0], /ecg-emotiond\/v1\/state ok "online"/);
  t.match(lines[1], /ecg-emotiond\/v1\/emotion ok /);
  t.match(lines[2], /INVALID .*must have required property 'eventId'/);
  t.equal(code, 1);
  t.match(err, /3 messages, 1 invalid/);
});
