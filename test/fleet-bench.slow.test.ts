import t from 'tap';
import { runFleetBench } from '../src/bench/fleet.js';

// `bench fleet` at a size CI takes: its figures come from real links, a real broker and a real
// consumer, so outages must be injected, noticed, and leave nothing lost.

t.test(
  'bench fleet: outages injected at random, every accepted event delivered once-or-more, figures measured',
  async (t) => {
    const r = await runFleetBench({
      vehicles: [6],
      seconds: 12,
      meanBetweenOutagesS: 5,
      outageS: [2, 4],
      keepaliveS: 1,
    });
    const run = r.runs[0];
    t.ok(run.outages >= 3, `${run.outages} outages injected`);
    t.ok(run.accepted >= 6 * 4 * 8, `${run.accepted} events accepted`);
    t.equal(run.lost, 0, 'none lost');
    t.equal(run.delivered, run.accepted);
    t.equal(run.invalid, 0, 'every message valid under the contract');
    // The outages hold events back: the slowest is seconds late.
    t.ok(run.latencyAllMs.max >= 1500, `max latency ${run.latencyAllMs.max} ms`);
    // 4 messages a window of about 300 B each, plus MQTT framing: about 4 MB an hour a vehicle.
    t.ok(
      run.upBytesPerVehicleHour > 2e6 && run.upBytesPerVehicleHour < 8e6,
      `${run.upBytesPerVehicleHour} B/h up`,
    );
    t.ok(run.keptUp, 'the consumer kept up');
    t.equal(r.tenThousandCars.messagesPerHour, run.messagesPerVehicleHour * 10_000);
  },
);
