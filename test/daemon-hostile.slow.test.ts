import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { loadConfig } from '../src/config/load.js';
import { Daemon } from '../src/daemon/daemon.js';
import { DEMO_RECORD } from '../src/paths.js';
import { openReplayPort } from '../src/hil/replay.js';
import { createLogger } from '../src/log.js';
import { encodeEcgSerial } from '../src/protocols/ecg-serial.js';
import { openChannel } from '../src/records/open.js';
import { Resampler } from '../src/dsp/resampler.js';
import { waitFor } from './fixtures/wait.js';

t.test(
  'a daemon fed CRC-valid frames with rate 0, flapping rates and gain 0 keeps rating the valid stream around them',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-hostile-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const base = await loadConfig(undefined, { ECG_EMOTIOND__MODEL__PROVIDERS: '[cpu]' });
    const config = {
      ...base,
      source: { ...base.source, path: pty.b, protocol: 'ecg-serial' as const },
      // No broker: events wait in the outbox; this test is about the input edge.
      mqtt: { ...base.mqtt, url: 'mqtt://127.0.0.1:9', statsIntervalS: 0 },
      outbox: { ...base.outbox, dir: join(dir, 'outbox') },
    };
    const daemon = await Daemon.open(config, { log: createLogger('fatal') });
    await daemon.start();
    t.teardown(() => daemon.stop());
    t.ok(await waitFor(() => daemon.source.state !== 'disconnected', 10_000), 'the source has the port');

    // 30 s of the demo record at 500 Hz in 10-sample frames; after every 9 valid frames, a hostile one.
    const reader = await openChannel(DEMO_RECORD);
    const rs = new Resampler(reader.info.sampleRateHz, 500, { maxFrame: 4096 });
    const adc: number[] = [];
    const toSample = Math.round(30 * reader.info.sampleRateHz);
    for await (const c of reader.chunks({ toSample, chunkSamples: 2048 })) {
      const n = rs.process(c.physical, 0, c.physical.length);
      for (let k = 0; k < n; k++) adc.push(Math.round(rs.out[k] * 200));
    }
    const hostile = [
      { sampleRateHz: 0, gain: 200 }, // the frame that aborted the process (exit 134)
      { sampleRateHz: 250, gain: 200 }, // a rate that flaps: never held for three frames
      { sampleRateHz: 1000, gain: 200 },
      { sampleRateHz: 500, gain: 0 },
    ];
    const port = await openReplayPort({ kind: 'serial', path: pty.a, baudRate: 115200 });
    let seq = 0;
    let valid = 0;
    let bad = 0;
    for (let i = 0; i + 10 <= adc.length; i += 10) {
      const samples = adc.slice(i, i + 10);
      await port.write(
        encodeEcgSerial({ seq: seq++ % 65536, flags: 0, sampleRateHz: 500, gain: 200, baseline: 0, samples }),
      );
      valid += 10;
      if (seq % 10 === 9) {
        const h = hostile[bad++ % hostile.length];
        await port.write(encodeEcgSerial({ seq: seq++ % 65536, flags: 0, baseline: 0, samples, ...h }));
      }
    }
    t.ok(
      await waitFor(() => daemon.stats.samples >= valid, 20_000),
      `${daemon.stats.samples} of ${valid} valid samples in`,
    );
    await port.close();
    const s = daemon.stats;
    t.equal(s.samples, valid, 'every valid sample reached the pipeline, no hostile one did');
    t.equal(daemon.source.stats.implausible, bad, `${bad} hostile frames counted and dropped`);
    const windows = s.windows.good + s.windows.acceptable + s.windows.unusable;
    t.ok(windows >= 18, `${windows} windows rated`);
    t.ok(s.windows.good + s.windows.acceptable >= windows - 4, 'the valid stream around them stays usable');
    t.equal(s.inference.count > 0, true, 'the model ran on them');
  },
);
