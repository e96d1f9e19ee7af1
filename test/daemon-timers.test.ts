import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mock } from 'node:test';
import t from 'tap';
import { zeroSourceStats } from './fixtures/helpers.js';
import { loadConfig } from '../src/config/load.js';
import { Daemon } from '../src/daemon/daemon.js';
import { rereadConfig } from '../src/daemon/run.js';
import { createLogger } from '../src/log.js';
import type { DaemonStats } from '../src/pipeline/events.js';
import { freePort } from '../src/bench/harness/mosquitto.js';
import type { EcgFrame, EcgSource, SourceState, SourceStats } from '../src/sources/source.js';

// node:test's mock timers warn that they are experimental (Node 22) on first use: an expected
// notice, not a failure, so it is kept off the test output; any other warning still prints.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((w: string | Error, ...rest: never[]) => {
  if (!/MockTimers/.test(String(w))) emitWarning(w, ...rest);
}) as typeof process.emitWarning;

/** A connected sensor the test feeds by hand: one call, one frame of 50 samples at 500 Hz. */
class HandSource implements EcgSource {
  onFrame: (f: EcgFrame, arrivalNs: bigint) => void = () => {};
  onGap: (lost: number | null) => void = () => {};
  onState: (s: SourceState, d: string) => void = () => {};
  readonly state: SourceState = 'connected';
  readonly stats: SourceStats = zeroSourceStats();
  readonly name = 'hand';
  private readonly frame: EcgFrame = {
    mv: new Float64Array(50),
    flags: new Uint8Array(50),
    length: 50,
    sampleRateHz: 500,
  };
  start(): void {}
  async stop(): Promise<void> {}
  feed(): void {
    this.onFrame(this.frame, process.hrtime.bigint());
  }
}

/**
 * What the daemon writes on its notify descriptor (the launcher's socket under systemd), here a
 * file: messages in the order written.
 */
async function notifyFile(dir: string) {
  const path = join(dir, 'notify');
  const fd = openSync(path, 'a');
  return { fd, read: () => readFile(path, 'utf8'), close: () => closeSync(fd) };
}

t.test(
  'on fake timers: the watchdog is fed on each live tick and never once the pipeline stalls; stats follow their interval',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-timers-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const notify = await notifyFile(dir);
    t.teardown(notify.close);
    // systemd's environment for a unit with WatchdogSec=2 (the daemon ticks at half of it, 1 s),
    // and the descriptor bin/ecg-emotiond connects to NOTIFY_SOCKET.
    process.env.NOTIFY_SOCKET = '/run/systemd/notify';
    process.env.WATCHDOG_USEC = '2000000';
    process.env.ECG_EMOTIOND_NOTIFY_FD = String(notify.fd);
    t.teardown(() => {
      delete process.env.NOTIFY_SOCKET;
      delete process.env.WATCHDOG_USEC;
      delete process.env.ECG_EMOTIOND_NOTIFY_FD;
    });
    const base = await loadConfig(undefined, { ECG_EMOTIOND__MODEL__PROVIDERS: '[cpu]' });
    const config = {
      ...base,
      source: { ...base.source, silenceMs: 1000 },
      mqtt: { ...base.mqtt, url: 'mqtt://127.0.0.1:9', statsIntervalS: 5 },
      outbox: { ...base.outbox, dir: join(dir, 'outbox') },
      health: { ...base.health, enabled: true, port: await freePort() },
    };
    const health = (path: string) =>
      fetch(`http://127.0.0.1:${config.health.port}${path}`).then(async (r) => ({
        status: r.status,
        body: await r.json(),
      }));
    const source = new HandSource();
    const daemon = await Daemon.open(config, { source, log: createLogger('fatal') });
    const ticks: boolean[] = [];
    const stats: DaemonStats[] = [];
    daemon.events.on('liveness', (alive) => ticks.push(alive));
    daemon.events.on('stats', (s) => stats.push(s));
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
    t.teardown(() => mock.timers.reset());
    await daemon.start(); // resolves once READY=1 is written

    // Samples flow: every 1 s tick finds the pipeline alive and feeds the watchdog.
    for (let s = 0; s < 5; s++) {
      for (let k = 0; k < 10; k++) source.feed();
      mock.timers.tick(1000);
    }
    t.same(ticks, [true, true, true, true, true], 'alive on each tick while samples flow');
    t.equal(stats.length, 1, 'one stats event after 5 s');
    t.equal(stats[0].samples, 5 * 10 * 50, 'counting every sample fed');
    t.equal(stats[0].uptimeS, 5, 'uptime on the daemon clock');
    t.same(
      [stats[0].ready, stats[0].notReady],
      [true, []],
      'ready: no broker here, but the outbox takes every event',
    );
    t.match(stats[0].broker, { connected: false }, 'the stats topic says the broker is away');
    t.match(await health('/readyz'), {
      status: 200,
      body: { ready: true, notReady: [], outboxAccepting: true, broker: { connected: false } },
    });

    // The sensor stays connected but sends nothing: dead after 2 x silenceMs, and it stays dead.
    for (let s = 0; s < 6; s++) mock.timers.tick(1000);
    t.same(
      ticks.slice(5),
      [true, true, false, false, false, false],
      'not alive once 2 s pass without samples',
    );
    t.equal(stats.length, 2, 'stats go on while dead (10 s)');
    t.equal(stats[1].samples, stats[0].samples, 'and count nothing new');
    // Samples last counted at the 5 s tick: the stats at 10 s say 5 s; health, after the 11 s tick, 6 s.
    const why = 'pipeline: no samples for 5.0 s from a source that says it is connected';
    t.same([stats[1].ready, stats[1].notReady], [false, [why]], 'the stats topic says why it is not ready');
    t.match(await health('/healthz'), {
      status: 503,
      body: { alive: false, problem: 'no samples for 6.0 s from a source that says it is connected' },
    });
    t.match(await health('/readyz'), {
      status: 503,
      body: { ready: false, notReady: [/^pipeline: no samples for 6\.0 s/] },
    });
    const metrics = await (await fetch(`http://127.0.0.1:${config.health.port}/metrics`)).text();
    t.match(metrics, /^ecg_emotiond_up 0$/m);
    t.match(metrics, /^ecg_emotiond_ready 0$/m);

    await daemon.stop(); // resolves once STOPPING=1 is written: every ping sent came before it
    const written = await notify.read();
    const pings = written.split('WATCHDOG=1').length - 1;
    t.equal(pings, ticks.filter(Boolean).length, 'one WATCHDOG=1 per live tick, none while dead');
    t.match(written, /^READY=1\nSTATUS=running/, 'readiness first');
    t.match(written, /STOPPING=1$/, 'stopping last');
  },
);

t.test(
  'SIGHUP re-reads the file: what applies live is applied, a broken file keeps the running config',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-sighup-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'config.yaml');
    const yaml = (minConfidence: number, url: string) =>
      [
        'model: { providers: [cpu] }',
        `mqtt: { url: "${url}", statsIntervalS: 0 }`,
        `outbox: { dir: "${join(dir, 'outbox')}" }`,
        'health: { enabled: false }',
        `decision: { minConfidence: ${minConfidence} }`,
        '',
      ].join('\n');
    await writeFile(file, yaml(0.5, 'mqtt://127.0.0.1:9'));
    const config = await loadConfig(file);
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => void lines.push(l) });
    const daemon = await Daemon.open(config, { source: new HandSource(), log, configName: file });
    await daemon.start();
    t.teardown(() => daemon.stop());

    await writeFile(file, yaml(0.8, 'mqtt://127.0.0.1:10'));
    t.same(await rereadConfig(daemon, file, log), { applied: ['decision'], needsRestart: ['mqtt'] });
    t.match(lines.at(-1), /configuration re-read: decision applied; mqtt need a restart/);

    await writeFile(file, 'decision: { minConfidence: "high" }\n');
    t.equal(await rereadConfig(daemon, file, log), null, 'a broken file is not applied');
    t.match(lines.at(-1), /SIGHUP: config not applied, keeping the running one/);
    t.match(lines.at(-1), /decision\.minConfidence/, 'naming the bad setting');
  },
);
