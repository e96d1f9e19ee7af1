import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { freePort, Mosquitto } from '../src/bench/harness/mosquitto.js';
import { payloadProblems, type Topic } from '../src/publish/payloads.js';
import { waitFor } from './fixtures/wait.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

t.test(
  'run: ECG replayed over a pty becomes validated MQTT events; SIGTERM stops it within 2 s with "offline"',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-run-'));
    const broker = await Mosquitto.create(dir);
    t.teardown(() => broker.stop());
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const healthPort = await freePort();
    await writeFile(
      join(dir, 'config.yaml'),
      [
        'vehicleId: test-car',
        'source:',
        `  path: ${pty.b}`,
        '  protocol: ecg-serial',
        'mqtt:',
        `  url: ${broker.url}`,
        '  statsIntervalS: 1',
        'outbox:',
        `  dir: ${join(dir, 'outbox')}`,
        'health:',
        '  enabled: true',
        `  port: ${healthPort}`,
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

    // systemd's notify socket, played by a Unix datagram listener (Node has none; python3 does)
    // that prints each message with the sender's PID, as systemd reads it for NotifyAccess=main.
    const notifySocket = join(dir, 'notify.sock');
    const listener = spawn('python3', [
      '-u',
      '-c',
      [
        'import socket,struct,sys',
        's=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)',
        's.setsockopt(socket.SOL_SOCKET,socket.SO_PASSCRED,1)',
        's.bind(sys.argv[1])',
        "print('bound',flush=True)",
        'while True:',
        '  m,anc,_,_=s.recvmsg(4096,socket.CMSG_SPACE(12))',
        '  pid=[struct.unpack("iII",d)[0] for _,t,d in anc if t==socket.SCM_CREDENTIALS]',
        "  print(pid[0] if pid else -1,m.decode().replace(chr(10),' '),flush=True)",
      ].join('\n'),
      notifySocket,
    ]);
    t.teardown(() => listener.kill());
    let notes = '';
    listener.stdout.on('data', (b) => (notes += b));
    await waitFor(() => notes.includes('bound'), 5000);
    // Through the launcher, as the unit starts it: it connects the notify socket and execs Node.
    const daemon = spawn(
      join(PROJECT_ROOT, 'bin', 'ecg-emotiond'),
      ['run', '--config', join(dir, 'config.yaml')],
      {
        env: { ...process.env, NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '400000' },
      },
    );
    let log = '';
    daemon.stderr.on('data', (b) => (log += b));
    t.ok(await waitFor(() => log.includes('ecg-emotiond running'), 20_000), 'started');
    // Read from the platform: each provider ahead of the one in use says why it was skipped.
    const used = /running on (\w+)/.exec(log)?.[1] ?? '';
    const order = ['tensorrt', 'cuda', 'cpu'];
    t.ok(order.includes(used), `running on ${used}`);
    for (const p of order.slice(0, order.indexOf(used)))
      t.match(
        log,
        new RegExp(`inference runs on ${used}: .*${p}.* not available|execution provider ${p} skipped: `),
        `${p} skipped, and said`,
      );
    t.notMatch(log, /Failed to load shared library/, 'raw provider errors only at debug level');
    const replay = spawn(process.execPath, [
      BIN,
      'replay',
      join(PROJECT_ROOT, 'data', 'demo', 'drive06-excerpt'),
      '--target',
      `serial:${pty.a}`,
      '--to',
      '60',
      '--speed',
      '15',
    ]);
    t.equal(await new Promise((r) => replay.on('exit', r)), 0, 'replay finished');
    t.ok(
      await waitFor(() => received.some((m) => m.topic === 'emotion'), 10_000),
      'emotion events on the bus',
    );
    const expectedTopics = [
      'state',
      'info',
      'emotion',
      'emotion/state',
      'heart_rate',
      'signal_quality',
      'stats',
    ];
    const topics = () => new Set(received.map((m) => m.topic));
    await waitFor(() => expectedTopics.every((x) => topics().has(x)), 10_000);
    for (const topic of expectedTopics) t.ok(topics().has(topic), topic);
    const invalid = received.filter((m) => payloadProblems(m.topic as Topic, m.body).length > 0);
    t.same(invalid, [], 'every payload validates against its schema');
    const stats = received.filter((m) => m.topic === 'stats').at(-1)!.body as {
      samples: number;
      events: number;
    };
    t.ok(stats.samples > 0 && stats.events > 0, 'stats count samples and events');
    const quality = received.filter((m) => m.topic === 'signal_quality').length;
    t.ok(quality >= 40, `${quality} windows rated (60 s at a 1.25 s hop)`);
    t.match(log, /streaming at 496 Hz/, 'the rate the wire reported');
    t.match(notes, /READY=1/, 'READY=1 after warm-up');
    t.match(notes, /EXTEND_TIMEOUT_USEC=/, 'more start time asked while TensorRT might build');
    t.ok((notes.match(/WATCHDOG=1/g) ?? []).length >= 5, 'the watchdog fed while samples flow');
    const senders = new Set([...notes.matchAll(/^(-?\d+) /gm)].map((m) => Number(m[1])));
    t.same([...senders], [daemon.pid], 'every message from the PID systemd started (NotifyAccess=main)');

    const healthz = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    t.equal(healthz.status, 200);
    const h = (await healthz.json()) as { mqttConnected: boolean; samples: number };
    t.equal(h.mqttConnected, true);
    t.ok(h.samples >= 60 * 496, `${h.samples} samples`);
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    t.match(metrics, /^ecg_emotiond_samples_total (\d+)$/m);
    t.match(metrics, /^ecg_emotiond_windows_total\{quality="good"\} \d+$/m);
    for (const stage of ['dsp', 'inference', 'publish'])
      t.match(
        metrics,
        new RegExp(`^ecg_emotiond_${stage}_seconds_count [1-9]\\d*$`, 'm'),
        `${stage} latency histogram`,
      );
    t.match(metrics, /^ecg_emotiond_window_latency_seconds_bucket\{le="\+Inf"\} [1-9]/m);
    t.match(metrics, /^ecg_emotiond_outbox_depth \d+$/m);
    t.match(metrics, /^ecg_emotiond_resident_memory_bytes [1-9]\d*$/m);
    // The source went silent after the replay: still alive (it says so honestly), still 200.
    const lastSourceLine = () =>
      log
        .split('\n')
        .filter((l) => /"msg":"source /.test(l))
        .at(-1) ?? '';
    t.ok(
      await waitFor(() => lastSourceLine().includes('source silent'), 10_000),
      'the source reports silence',
    );
    t.equal(
      (await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status,
      200,
      'a silent source is not a dead pipeline',
    );
    const readyz = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    t.equal(readyz.status, 503, 'but not ready: no ECG is streaming');
    t.match(await readyz.json(), {
      ready: false,
      notReady: ['source: silent'],
      source: 'silent',
      mqttConnected: true,
    });

    daemon.kill('SIGTERM');
    const code = await new Promise((r) => daemon.on('exit', r));
    // Past 2 s the daemon's own hard stop exits 1: 0 means it stopped within the limit.
    t.equal(code, 0, 'stopped cleanly within 2 s');
    t.ok(await waitFor(() => received.at(-1)?.body === 'offline', 3000), 'offline published on the way out');
    t.ok(await waitFor(() => notes.includes('STOPPING=1'), 2000), 'STOPPING=1');
  },
);

t.test('the systemd unit verifies and its exposure is at most 2.0', async (t) => {
  // As installed, with /opt/ecg-emotiond standing for this checkout (verify checks ExecStart exists).
  const text = await readFile(join(PROJECT_ROOT, 'systemd', 'ecg-emotiond.service'), 'utf8');
  t.match(text, /^ExecStart=\/opt\/ecg-emotiond\/bin\/ecg-emotiond run /m, 'started through the launcher');
  const unit = join(await mkdtemp(join(tmpdir(), 'ecg-unit-')), 'ecg-emotiond.service');
  await writeFile(unit, text.replaceAll('/opt/ecg-emotiond', PROJECT_ROOT));
  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.equal(verify.status, 0, verify.stderr);
  t.equal(verify.stderr.trim(), '', 'no warnings');
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', unit], { encoding: 'utf8' });
  const exposure = Number(
    /Overall exposure level for ecg-emotiond\.service: ([\d.]+)/.exec(security.stdout)?.[1],
  );
  t.ok(exposure <= 2.0, `exposure ${exposure}`);
  t.match(text, /^Type=notify$/m);
  t.match(text, /RestrictAddressFamilies=.*AF_CAN/);
  t.notMatch(text, /^MemoryDenyWriteExecute=yes/m, 'V8 needs W+X memory');
});

t.test(
  'run refuses to start, in one line and with the documented exit code, on a bad config, a corrupt model or an unusable outbox',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-run-faults-'));
    const run = (config: string) =>
      spawnSync(process.execPath, [BIN, 'run', '--config', config], { encoding: 'utf8', timeout: 30_000 });
    const cfg = join(dir, 'c.yaml');

    await writeFile(cfg, 'mqtt:\n  url: http://x\n');
    const bad = run(cfg);
    t.equal(bad.status, 3);
    t.match(bad.stderr, /^ecg-emotiond: invalid config .*mqtt\.url: must match pattern/m);

    const model = join(dir, 'model');
    await cp(join(PROJECT_ROOT, 'models', 'driver-stress-drivedb'), model, { recursive: true });
    const onnx = await readFile(join(model, 'model.onnx'));
    onnx[onnx.length >> 1] ^= 0x01;
    await writeFile(join(model, 'model.onnx'), onnx);
    await writeFile(cfg, `model:\n  dir: ${model}\noutbox:\n  dir: ${dir}/ob\n`);
    const corrupt = run(cfg);
    t.equal(corrupt.status, 5);
    t.match(corrupt.stderr, /model\.onnx: sha256 [0-9a-f]{64} does not match the manifest's/);
    t.equal(
      corrupt.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('ecg-emotiond:')).length,
      1,
      'one line',
    );

    await writeFile(join(dir, 'a-file'), ''); // a directory cannot be made under a file
    await writeFile(cfg, `outbox:\n  dir: ${dir}/a-file/outbox\nmodel:\n  providers: [cpu]\n`);
    const outbox = run(cfg);
    t.equal(outbox.status, 3);
    t.match(outbox.stderr, /outbox\.dir: \S+\/a-file\/outbox is not usable \(ENOTDIR\)/);
  },
);
