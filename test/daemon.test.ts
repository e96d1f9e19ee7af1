import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { zeroSourceStats } from './fixtures/helpers.js';
import { loadConfig } from '../src/config/load.js';
import { Daemon } from '../src/daemon/daemon.js';
import { DEMO_RECORD } from '../src/paths.js';
import type { WindowRated } from '../src/pipeline/events.js';
import { createLogger } from '../src/log.js';
import { FrameFlag, type SampleFrame } from '../src/protocols/types.js';
import { RecordSource } from '../src/sources/record-source.js';
import { ScaledSource } from '../src/sources/scaled-source.js';
import type { EcgFrame, SourceState, SourceStats, WireSource } from '../src/sources/source.js';

/** The wire side of a sensor, driven by the test: frames go in as a decoder would hand them on. */
class TestWire implements WireSource {
  onFrame: (f: SampleFrame, arrivalNs: bigint) => void = () => {};
  onGap: (lost: number | null) => void = () => {};
  onState: (s: SourceState, d: string) => void = () => {};
  state: SourceState = 'connected';
  stats: SourceStats = zeroSourceStats();
  start(): void {}
  async stop(): Promise<void> {}
  send(f: Partial<SampleFrame>): void {
    this.onFrame(
      { seq: null, seqModulus: 0, seqPerSample: false, flags: 0, samples: Int32Array.of(200, 400), ...f },
      0n,
    );
  }
}

t.test(
  'ScaledSource: mV from the frame scale or the configured one; implausible frames counted and dropped',
  async (t) => {
    const wire = new TestWire();
    const src = new ScaledSource(wire, { sampleRateHz: 250, gain: 200, baseline: 0 }, 'serial:/dev/x');
    const got: Array<{ mv: number[]; flags: number[]; rate: number }> = [];
    src.onFrame = (f: EcgFrame) =>
      got.push({
        mv: Array.from(f.mv.subarray(0, f.length)),
        flags: Array.from(f.flags.subarray(0, f.length)),
        rate: f.sampleRateHz,
      });
    const kinds: string[] = [];
    src.onDropped = (kind) => kinds.push(kind);
    wire.send({}); // configured: 250 Hz, 200 units per mV
    wire.send({ sampleRateHz: 250, gain: 100, baseline: 100, flags: FrameFlag.LeadOff });
    t.same(got[0], { mv: [1, 2], flags: [0, 0], rate: 250 });
    t.same(got[1].mv, [1, 3], "the frame's own gain and baseline");
    t.ok(
      got[1].flags.every((f) => f !== 0),
      'lead-off reaches every sample',
    );
    // A CRC-valid frame can still say 0 Hz, 1e9 Hz, gain 0 or NaN: none reaches the resampler.
    for (const bad of [
      { sampleRateHz: 0 },
      { sampleRateHz: 1e9 },
      { sampleRateHz: -5 },
      { gain: 0, baseline: 0 },
      { gain: Number.NaN, baseline: 0 },
    ])
      wire.send(bad);
    t.equal(got.length, 2, 'nothing implausible passed');
    t.equal(src.stats.implausible, 5, 'each counted');
    t.same(kinds, ['implausible rate', 'implausible gain'], 'each kind said once');
    // A rate that flaps every frame never restarts the stream; one that holds is taken.
    for (let i = 0; i < 10; i++) wire.send({ sampleRateHz: i % 2 ? 500 : 1000 });
    t.ok(
      got.every((g) => g.rate === 250),
      'flapping rates dropped',
    );
    t.equal(kinds.at(-1), 'flapping rate', 'and said once');
    for (let i = 0; i < 3; i++) wire.send({ sampleRateHz: 500 });
    t.equal(got.at(-1)!.rate, 500, 'a new rate held for three frames is taken');
  },
);

t.test('RecordSource: a missing record fails when opened, in one line', async (t) => {
  await t.rejects(RecordSource.open('/nonexistent/record'), /no such record/);
});

t.test(
  'Daemon: a record through the one composition root; an extra sink sees every window; reconfigure says what applies live',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-daemon-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const base = await loadConfig(undefined, { ECG_EMOTIOND__MODEL__PROVIDERS: '[cpu]' });
    // No broker listens there: events wait in the outbox, as in a tunnel.
    const config = {
      ...base,
      mqtt: { ...base.mqtt, url: 'mqtt://127.0.0.1:9', statsIntervalS: 0 },
      outbox: { ...base.outbox, dir: join(dir, 'outbox') },
    };
    const source = await RecordSource.open(DEMO_RECORD, { speed: Number.POSITIVE_INFINITY, durationS: 60 });
    const windows: WindowRated[] = [];
    const daemon = await Daemon.open(config, {
      source,
      log: createLogger('fatal'),
      sinks: [{ attach: (events) => events.on('window', (w) => windows.push(w)) }],
    });
    await daemon.start();
    await source.finished;
    await daemon.drained();
    const s = daemon.stats;
    t.ok(Math.abs(source.positionS - 60) < 0.5, `60 s of ECG played (${source.positionS.toFixed(2)} s)`);
    t.equal(
      windows.length,
      s.windows.good + s.windows.acceptable + s.windows.unusable,
      'every window reached the sink',
    );
    t.ok(windows.length >= 40, `${windows.length} windows`);
    t.ok(
      daemon.outbox.depth > windows.length,
      `every window's messages are in the outbox (${daemon.outbox.depth})`,
    );
    const r = daemon.reconfigure({
      ...config,
      decision: { ...config.decision, minConfidence: 0.9 },
      mqtt: { ...config.mqtt, url: 'mqtt://127.0.0.1:10' },
    });
    t.same(r, { applied: ['decision'], needsRestart: ['mqtt'] });
    await daemon.stop();
  },
);
