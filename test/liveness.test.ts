import t from 'tap';
import { Liveness } from '../src/daemon/liveness.js';

/** A pipeline the test drives, on a clock the test moves. */
function rig() {
  const state = { now: 0, samples: 0, connected: true, runningMs: 0 };
  const live = new Liveness({
    samples: () => state.samples,
    sourceConnected: () => state.connected,
    inferenceRunningMs: () => state.runningMs,
    silenceMs: 1000,
    now: () => state.now,
  });
  /** Moves the clock on by `ms` in 100 ms ticks, as the daemon's timer would. */
  const run = (ms: number, each: () => void = () => {}) => {
    let died = 0;
    for (let t = 0; t < ms; t += 100) {
      state.now += 100;
      each();
      if (live.tick()) died++;
    }
    return died;
  };
  return { state, live, run };
}

t.test(
  'samples flowing: alive; a connected source that stops delivering: not alive after 2 x silenceMs',
  async (t) => {
    const { state, live, run } = rig();
    t.equal(
      run(5000, () => (state.samples += 50)),
      0,
    );
    t.equal(live.alive, true);
    t.equal(run(1900), 0, 'a short stall is not death');
    t.equal(live.alive, true);
    t.equal(run(200), 1, 'reported once, when it happens');
    t.equal(live.alive, false);
    run(300, () => (state.samples += 50));
    t.equal(live.alive, true, 'alive again once samples flow');
  },
);

t.test('a source that says it is silent or disconnected is honest, not dead', async (t) => {
  const { state, live, run } = rig();
  state.connected = false;
  t.equal(run(10_000), 0);
  t.equal(live.alive, true);
});

t.test(
  'one inference running past 5 s is stuck; back-to-back short ones, sampled busy at every tick, are not',
  async (t) => {
    const { state, live, run } = rig();
    // 200 ms inferences back to back: the flag reads busy at every tick, yet none runs long.
    t.equal(
      run(20_000, () => {
        state.samples += 50;
        state.runningMs = (state.now % 200) + 1;
      }),
      0,
    );
    t.equal(live.alive, true);
    // One inference that does not come back.
    const from = state.now;
    t.equal(
      run(5200, () => {
        state.samples += 50;
        state.runningMs = state.now - from;
      }),
      1,
      'one inference past 5 s',
    );
    t.equal(live.alive, false);
  },
);
