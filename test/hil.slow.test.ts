import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { openReplayPort, replayRecord, wireSamples } from '../src/hil/replay.js';
import { SERIAL_PROTOCOLS } from '../src/protocols/types.js';
import { encodeEcgSerial } from '../src/protocols/ecg-serial.js';
import { openChannel } from '../src/records/open.js';
import { WfdbWriter } from '../src/records/wfdb-writer.js';
import { SerialSource } from '../src/sources/serial-source.js';
import { rec, writeEdfD } from './fixtures/helpers.js';
import { ptyPair } from '../src/bench/harness/pty-pair.js';
import { waitFor } from './fixtures/wait.js';
import { loadSocketCan } from '../src/sources/socketcan-source.js';

const BIN = join(PROJECT_ROOT, 'dist', 'cli', 'main.js');
/** Runs the CLI to its end: exit code and stderr. */
const cli = (...args: string[]) =>
  new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args]);
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    p.on('exit', (code) => resolve({ code, err }));
  });
const tmp = () => mkdtemp(join(tmpdir(), 'ecg-hil-'));

async function digitalOf(record: string): Promise<number[]> {
  const out: number[] = [];
  for await (const c of (await openChannel(record)).chunks()) out.push(...c.digital!);
  return out;
}

for (const protocol of SERIAL_PROTOCOLS) {
  t.test(
    `${protocol}: a record replayed over a real pty arrives bit-exact at the daemon's source`,
    async (t) => {
      const pty = await ptyPair(await tmp());
      t.teardown(() => pty.stop());
      const record = rec('mitdb', '100');
      const toS = 6;
      const expected = Array.from((await wireSamples({ record, protocol, toS })).values);
      // The device side (the replayer) is there first, as a sensor is; then the daemon's source opens.
      const port = await openReplayPort({ kind: 'serial', path: pty.a, baudRate: 115200 });
      const source = new SerialSource({ path: pty.b, baudRate: 115200, protocol });
      const got: number[] = [];
      source.onFrame = (f) => got.push(...f.samples);
      source.start();
      t.teardown(() => source.stop());
      // BITalino streams at 1000 Hz × speed and waits for the source's start command.
      const r = await replayRecord({
        record,
        protocol,
        toS,
        speed: protocol === 'bitalino' ? 2 : 8,
        write: port.write,
        commands: port.incoming,
      });
      t.ok(await waitFor(() => got.length >= expected.length, 10_000), 'the last frame arrived');
      await port.close();
      t.equal(r.samples, expected.length);
      t.equal(got.length, expected.length, 'every sample arrived');
      t.ok(
        got.every((v, i) => v === expected[i]),
        'the same values, in order',
      );
      t.equal(source.stats.crcErrors + source.stats.malformed, 0);
      t.equal(source.stats.gaps, 0);
    },
  );
}

t.test(
  'replay and record commands: a 480 Hz record (not in the shared folder) round-trips bit-exact',
  async (t) => {
    const dir = await tmp();
    // A 480 Hz int16 record: a deterministic ECG-like waveform with large excursions.
    const w = new WfdbWriter({
      record: join(dir, 'r480'),
      sampleRateHz: 480,
      gain: 400,
      baseline: -7,
      format: 16,
    });
    await w.open();
    const values = Array.from({ length: 480 * 8 }, (_, i) => {
      const phase = (i % 400) / 400;
      return Math.round(2000 * Math.exp(-(((phase - 0.3) / 0.01) ** 2)) + 150 * Math.sin(i / 37) - 300);
    });
    await w.append(values);
    await w.close();
    t.same(await digitalOf(join(dir, 'r480')), values, 'the writer writes what the readers read');

    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const out = join(dir, 'captured');
    const recorder = spawn(process.execPath, [
      BIN,
      'record',
      '--source',
      `serial:${pty.b}`,
      '--out',
      out,
      '--seconds',
      '5',
      '--json',
    ]);
    let recorded = '';
    let recorderLog = '';
    recorder.stdout.on('data', (b) => (recorded += b));
    recorder.stderr.on('data', (b) => (recorderLog += b));
    t.ok(
      await waitFor(() => recorderLog.includes('source connected'), 10_000),
      'the recorder has the port open',
    );
    const replay = spawn(process.execPath, [
      BIN,
      'replay',
      join(dir, 'r480'),
      '--target',
      `serial:${pty.a}`,
      '--speed',
      '4',
      '--json',
    ]);
    let replayed = '';
    replay.stdout.on('data', (b) => (replayed += b));
    t.equal(await new Promise((r) => replay.on('exit', r)), 0, 'replay exits 0');
    t.equal(await new Promise((r) => recorder.on('exit', r)), 0, 'record exits 0');
    const rr = JSON.parse(replayed);
    t.equal(rr.samples, values.length);
    t.ok(Math.abs(rr.rateErrorPercent) < 1, `rate error ${rr.rateErrorPercent} %`);
    t.same(JSON.parse(recorded).samples, values.length);
    const header = await readFile(`${out}.hea`, 'utf8');
    t.match(header, /^captured 1 480 3840\n/);
    t.match(header, / 400\(-7\)\/mV /, 'gain and baseline carried by the wire');
    t.same(await digitalOf(out), values, 'captured ADC values equal the record');
    const arrivals = (await readFile(`${out}.arrivals.csv`, 'utf8')).trim().split('\n');
    t.equal(arrivals[0], 'sample_index,arrival_ns,lost_before');
    t.equal(
      arrivals.length - 1,
      Math.ceil(values.length / 10),
      'one line per wire frame (10 samples at 480 Hz)',
    );
  },
);

t.test(
  'unplug: the pty vanishes mid-stream and comes back; the source reconnects, reports the gap, carries on',
  async (t) => {
    const dir = await tmp();
    let pty = await ptyPair(dir);
    const source = new SerialSource({
      path: pty.b,
      baudRate: 115200,
      protocol: 'ecg-serial',
      silenceMs: 5000,
    });
    const states: { state: string; at: number }[] = [];
    const gaps: (number | null)[] = [];
    let received = 0;
    source.onState = (state) => states.push({ state, at: Date.now() });
    source.onGap = (lost) => gaps.push(lost);
    source.onFrame = (f) => (received += f.samples.length);
    source.start();
    t.teardown(async () => {
      await source.stop();
      await pty.stop();
    });
    const frame = (seq: number) =>
      encodeEcgSerial({
        seq,
        flags: 0,
        sampleRateHz: 500,
        gain: 200,
        baseline: 0,
        samples: new Array(10).fill(seq % 100),
      });
    const sendFrames = async (from: number, to: number) => {
      const port = await openReplayPort({ kind: 'serial', path: pty.a, baudRate: 115200 });
      for (let s = from; s < to; s++) {
        await port.write(frame(s));
        await new Promise((r) => setTimeout(r, 5)); // paced as a sensor sends (not a wait on the receiver)
      }
      return port;
    };
    t.ok(await waitFor(() => source.state === 'connected', 10_000), 'connected');
    await sendFrames(0, 50);
    t.ok(await waitFor(() => received === 500, 10_000), '50 frames received');
    await pty.stop(); // unplugged: both ends vanish
    t.ok(await waitFor(() => source.state === 'disconnected', 10_000), 'disconnected');
    pty = await ptyPair(dir); // plugged back in on the same path
    const back = Date.now();
    t.ok(await waitFor(() => source.state === 'connected', 10_000), 'reconnected');
    t.comment(`reconnected ${Date.now() - back} ms after the path reappeared (backoff capped at 1 s)`);
    // The sensor kept counting while unplugged: frames 50..79 never arrived.
    const port = await sendFrames(80, 100);
    t.ok(await waitFor(() => received === 700, 10_000), '20 more frames received');
    await port.close();
    // Each new reason for being disconnected is reported (closed, then "no such file" while away).
    t.same(
      states.map((s) => s.state).filter((s, i, all) => i === 0 || s !== all[i - 1]),
      ['connected', 'disconnected', 'connected'],
    );
    t.same(gaps, [300], 'frames 50-79 (30 × 10 samples) reported lost');
    t.equal(source.stats.reconnects, 1);
  },
);

t.test(
  'bitalino replay behaves as the device: silent until start, pauses on stop, resumes on start',
  async (t) => {
    let push: (b: Uint8Array) => void = () => {};
    const queue: Uint8Array[] = [];
    const commands: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (queue.length) yield queue.shift()!;
          else await new Promise<void>((r) => (push = (b) => (queue.push(b), r())));
        }
      },
    };
    let sent = 0;
    // Frames written by the time the replayer parks for a start, and as it streams again.
    const gates: { state: string; sent: number }[] = [];
    const done = replayRecord({
      record: rec('mitdb', '100'),
      protocol: 'bitalino',
      toS: 1,
      speed: 4,
      commands,
      onGate: (state) => gates.push({ state, sent }),
      write: async (b) => {
        if (b.length === 3) sent++; // a one-channel BITalino frame
      },
    });
    t.ok(await waitFor(() => gates.length === 1, 10_000), 'parked until a start command');
    push(Uint8Array.of(0xc3, 0x05)); // 1000 Hz, start A1
    t.ok(await waitFor(() => sent > 100, 10_000), 'frames while live');
    push(Uint8Array.of(0x00)); // stop: the frame in flight may still go out, then it parks
    t.ok(await waitFor(() => gates.length === 3, 10_000), 'parked again after the stop');
    push(Uint8Array.of(0x05)); // start again
    const r = await done;
    t.same(
      gates.map((g) => g.state),
      ['waiting', 'streaming', 'waiting', 'streaming'],
    );
    t.equal(gates[1].sent, 0, 'nothing before the start command');
    t.equal(gates[3].sent, gates[2].sent, 'nothing while stopped');
    t.ok(gates[2].sent > 100 && gates[2].sent < 1000, `stopped mid-record, after ${gates[2].sent} frames`);
    t.equal(r.samples, 1000, 'every sample of the second, across the pause');
  },
);

t.test(
  'replay and record refuse a bad target with one line and exit 4; a missing device is retried, then exit 6',
  async (t) => {
    const record = rec('mitdb', '100');
    const bad = await cli('replay', record, '--target', 'tty:/dev/x');
    t.equal(bad.code, 4);
    t.match(bad.err, /tty:\/dev\/x: expected serial:<path>\[@baud\], slcan:<path>\[@baud\] or can:<iface>/);
    const missing = await cli('replay', record, '--target', 'serial:/dev/no-such-tty');
    t.equal(missing.code, 6, 'a device that is not there: exit 6, as for record');
    t.match(missing.err, /\/dev\/no-such-tty: cannot open/);
    const can = await cli('replay', record, '--target', 'can:vcan0');
    t.equal(can.code, 6);
    // Read from the platform: without the socketcan package, what to install; with it, this
    // kernel has no vcan0, and the error names the interface.
    const hasSocketCan = await loadSocketCan().then(
      () => true,
      () => false,
    );
    t.match(
      can.err,
      hasSocketCan
        ? /can:vcan0: cannot open the CAN interface/
        : /can:vcan0: SocketCAN needs the optional "socketcan" package/,
    );
    const rec1 = await cli(
      'record',
      '--source',
      'serial:/dev/no-such-tty',
      '--out',
      join(await tmp(), 'x'),
      '--seconds',
      '1',
    );
    t.equal(rec1.code, 6, 'the capture waits for the device, then fails at --seconds: nothing captured');
    t.match(rec1.err, /source disconnected: .*no-such-tty/);
    t.match(rec1.err, /serial:\/dev\/no-such-tty: no samples received/);
  },
);

t.test(
  'replay --rt-priority paces on a SCHED_FIFO thread where permitted, and says so where not',
  async (t) => {
    const dir = await tmp();
    const pty = await ptyPair(dir);
    t.teardown(() => pty.stop());
    const replay = spawn(process.execPath, [
      BIN,
      'replay',
      rec('mitdb', '100'),
      '--target',
      `serial:${pty.a}`,
      '--to',
      '3',
      '--rt-priority',
      '30',
      '--json',
    ]);
    let out = '';
    let err = '';
    replay.stdout.on('data', (b) => (out += b));
    replay.stderr.on('data', (b) => (err += b));
    const exited = new Promise((r) => replay.on('exit', r));
    // The kernel's view while it runs: /proc/<pid>/stat after the command name starts at field 3
    // (state); rt_priority is field 40, policy 41. Read until it shows real time or the replay ends.
    let [rtPriority, policy] = [0, 0];
    await waitFor(async () => {
      const stat = await readFile(`/proc/${replay.pid}/stat`, 'utf8').catch(() => null);
      if (stat === null || replay.exitCode !== null) return true;
      const fields = stat.split(') ')[1].split(' ');
      [rtPriority, policy] = [Number(fields[40 - 3]), Number(fields[41 - 3])];
      return policy !== 0;
    }, 10_000);
    t.equal(await exited, 0, 'replay exits 0');
    const r = JSON.parse(out);
    t.equal(r.samples, 1080, 'the 3 s were sent');
    if (r.scheduling === 'SCHED_FIFO 30') {
      t.same([policy, rtPriority], [1, 30], 'the kernel has the pacing thread at SCHED_FIFO 30');
    } else {
      t.equal(r.scheduling, 'normal');
      t.equal(policy, 0, 'SCHED_OTHER');
      t.match(err, /^replay: no real-time priority \(.+\); pacing at normal priority$/m, 'one line says why');
    }
    const bad = await cli('replay', rec('mitdb', '100'), '--target', `serial:${pty.a}`, '--rt-priority', '0');
    t.not(bad.code, 0);
    t.match(bad.err, /--rt-priority must be a whole number from 1 to 99/);
  },
);

t.test('an EDF+D record replays with its gap: the sensor falls silent and the sequence jumps', async (t) => {
  const dir = await tmp();
  const record = join(dir, 'gap.edf');
  // 8 s, then 4 s missing, then 8 s more.
  await writeEdfD(record, [
    ...Array.from({ length: 8 }, (_, i) => i),
    ...Array.from({ length: 8 }, (_, i) => 12 + i),
  ]);
  const expected = Array.from((await wireSamples({ record, protocol: 'ecg-serial' })).values);
  const pty = await ptyPair(dir);
  t.teardown(() => pty.stop());
  const port = await openReplayPort({ kind: 'serial', path: pty.a, baudRate: 115200 });
  const source = new SerialSource({ path: pty.b, baudRate: 115200, protocol: 'ecg-serial' });
  const got: number[] = [];
  const arrivals: number[] = [];
  const gaps: [number, number | null][] = [];
  source.onFrame = (f, at) => {
    got.push(...f.samples);
    arrivals.push(Number(at) / 1e6);
  };
  source.onGap = (lost) => gaps.push([got.length, lost]);
  source.start();
  t.teardown(() => source.stop());
  t.ok(await waitFor(() => source.state === 'connected', 10_000), 'the source has the port open');
  const r = await replayRecord({ record, protocol: 'ecg-serial', speed: 4, write: port.write });
  t.ok(await waitFor(() => got.length >= expected.length, 10_000), 'the last frame arrived');
  await port.close();
  t.equal(r.samples, 8000, 'the samples the record holds');
  t.same(got, expected, 'bit-exact');
  t.same(gaps, [[4000, 2000]], 'one gap of 4 s at 500 Hz, reported before the first sample after it');
  const pause = arrivals[400] - arrivals[399]; // 10-sample frames: frame 400 is the first after the gap
  t.ok(
    Math.abs(pause - (4000 + 20) / 4) < 100,
    `the wire fell silent for ${pause.toFixed(0)} ms (1005 ms at 4x)`,
  );
});
