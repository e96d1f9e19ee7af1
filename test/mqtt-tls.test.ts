import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../src/log.js';
import { Mosquitto } from '../src/bench/harness/mosquitto.js';
import { MqttPublisher } from '../src/publish/mqtt-publisher.js';
import { Outbox } from '../src/publish/outbox.js';
import { pki } from './fixtures/pki.js';
import { waitFor } from './fixtures/wait.js';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, done) {
      lines.push(...String(chunk).trim().split('\n'));
      done();
    },
  });
  return { lines, log: createLogger('debug', sink) };
}

t.test(
  'mutual TLS: the client certificate from our CA connects; a rogue one is refused with a clear error',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-tls-'));
    await pki(dir);
    const broker = await Mosquitto.create(
      dir,
      `cafile ${dir}/ca.crt\ncertfile ${dir}/server.crt\nkeyfile ${dir}/server.key\nrequire_certificate true\nuse_identity_as_username true\n`,
    );
    t.teardown(() => broker.stop());
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const good = capture();
    const pub = new MqttPublisher({
      url,
      clientId: 'tls-good',
      baseTopic: 'ecg-emotiond/v1',
      outbox: await Outbox.open(join(dir, 'ob1')),
      info: () => ({}),
      tls: {
        caFile: join(dir, 'ca.crt'),
        certFile: join(dir, 'client.crt'),
        keyFile: join(dir, 'client.key'),
      },
      log: good.log,
    });
    await pub.start();
    t.teardown(() => pub.stop());
    t.ok(await waitFor(() => pub.connected, 5000), 'connected with the CA-signed client certificate');
    await pub.publish('emotion', { ok: true });

    const bad = capture();
    const rogue = new MqttPublisher({
      url,
      clientId: 'tls-rogue',
      baseTopic: 'ecg-emotiond/v1',
      outbox: await Outbox.open(join(dir, 'ob2')),
      info: () => ({}),
      tls: { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'rogue.crt'), keyFile: join(dir, 'rogue.key') },
      reconnectMs: 200,
      log: bad.log,
    });
    await rogue.start();
    t.teardown(() => rogue.stop());
    t.ok(await waitFor(() => rogue.lastError !== null, 5000), `refused: ${rogue.lastError}`);
    t.notOk(rogue.connected);
    t.match(
      rogue.lastError,
      new RegExp(
        `^MQTT broker mqtts://127\\.0\\.0\\.1:${broker.port}: the broker refused our client certificate`,
      ),
    );
    const key = (await readFile(join(dir, 'rogue.key'), 'utf8')).split('\n')[1];
    t.notOk(
      [...good.lines, ...bad.lines].some((l) => l.includes(key)),
      'no key material in any log line',
    );
  },
);

t.test(
  'username and password from a file (systemd credentials); a wrong one is refused; no secret logged',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-auth-'));
    const secret = 'S3cret-p4ss-word-1234';
    execFileSync('mosquitto_passwd', ['-b', '-c', join(dir, 'passwd'), 'ecu', secret]);
    const broker = await Mosquitto.create(dir, `allow_anonymous false\npassword_file ${dir}/passwd\n`);
    t.teardown(() => broker.stop());
    await writeFile(join(dir, 'good'), `${secret}\n`);
    await writeFile(join(dir, 'bad'), 'wrong-password-5678\n');
    const logs = capture();
    const make = async (file: string, id: string) => {
      const p = new MqttPublisher({
        url: broker.url,
        clientId: id,
        baseTopic: 'ecg-emotiond/v1',
        outbox: await Outbox.open(join(dir, id)),
        info: () => ({}),
        username: 'ecu',
        passwordFile: join(dir, file),
        reconnectMs: 200,
        log: logs.log,
      });
      await p.start();
      t.teardown(() => p.stop());
      return p;
    };
    const ok = await make('good', 'auth-good');
    const wrong = await make('bad', 'auth-bad');
    t.ok(await waitFor(() => ok.connected, 5000), 'the password from the file is accepted');
    t.ok(await waitFor(() => wrong.lastError !== null, 5000), `refused: ${wrong.lastError}`);
    t.match(wrong.lastError, /Bad username or password|Not authorized/i);
    // The credential is fixed while the daemon runs (a rotated systemd credential): the refused
    // publisher keeps retrying, reads the file again, and gets in.
    await writeFile(join(dir, 'bad'), `${secret}\n`);
    t.ok(
      await waitFor(() => wrong.connected, 15_000),
      'reconnected after the refusal, with the new password',
    );
    t.notOk(
      logs.lines.some((l) => l.includes(secret) || l.includes('wrong-password-5678')),
      'no password in any log line',
    );
  },
);
