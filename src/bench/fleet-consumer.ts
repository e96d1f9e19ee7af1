// `bench fleet`'s fleet-side consumer, in a worker thread so it does not share the simulated
// vehicles' event loop: clients on one MQTT 5 shared subscription, each message validated against
// the contract and counted once by (vehicle, outbox id), with its end-to-end latency.
import { parentPort, workerData } from 'node:worker_threads';
import mqtt, { type MqttClient } from 'mqtt';
import { payloadProblems, type Topic, TOPICS } from '../publish/payloads.js';

export interface FleetConsumerData {
  url: string;
  /** A filter with one + for the vehicle, e.g. `ecg-emotiond/+/#`. */
  filter: string;
  clients: number;
}

export interface FleetConsumerCounts {
  type: 'counts';
  unique: number;
  duplicates: number;
  invalid: number;
  /** `state` and `info`: published on every connect, outside the outbox. */
  control: number;
}

/** The counts and, for every first-seen message, its vehicle and its latency. */
export interface FleetConsumerReport extends Omit<FleetConsumerCounts, 'type'> {
  type: 'report';
  vehicles: Int32Array;
  latencyMs: Float64Array;
}

export type FleetConsumerMessage = { type: 'ready' } | FleetConsumerCounts | FleetConsumerReport;

const port = parentPort;
if (port) {
  const o = workerData as FleetConsumerData;
  const seen = new Set<string>();
  const vehicles: number[] = [];
  const latencyMs: number[] = [];
  let duplicates = 0;
  let invalid = 0;
  let control = 0;
  const vehicleAt = o.filter.split('/').indexOf('+');
  const onMessage = (topic: string, buf: Buffer, packet: { properties?: { userProperties?: object } }) => {
    const now = Date.now();
    const parts = topic.split('/');
    const name = parts.slice(vehicleAt + 1).join('/');
    if (name === 'state' || name === 'info') return void control++;
    const outboxId = (packet.properties?.userProperties as { outboxId?: string } | undefined)?.outboxId;
    const key = `${parts[vehicleAt]}/${outboxId}`;
    if (seen.has(key)) return void duplicates++;
    seen.add(key);
    let payload: { timeMs?: number } | undefined;
    try {
      payload = JSON.parse(buf.toString('utf8'));
    } catch {
      payload = undefined;
    }
    if (!payload || !(TOPICS as string[]).includes(name) || payloadProblems(name as Topic, payload).length)
      invalid++;
    // Vehicles are named v<index>.
    vehicles.push(Number(parts[vehicleAt].slice(1)));
    latencyMs.push(now - (payload?.timeMs ?? now));
  };
  const clients: MqttClient[] = [];
  for (let i = 0; i < o.clients; i++) {
    const c = mqtt.connect(o.url, {
      protocolVersion: 5,
      clientId: `fleet-consumer-${i}`,
      reconnectPeriod: 500,
    });
    c.on('message', onMessage);
    clients.push(c);
  }
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.once('connect', () => r()))));
  await Promise.all(clients.map((c) => c.subscribeAsync(`$share/fleet/${o.filter}`, { qos: 1 })));
  port.on('message', (m: 'counts' | 'report' | 'stop') => {
    if (m === 'stop') {
      for (const c of clients) c.end(true);
      port.close();
      return;
    }
    const counts = { unique: seen.size, duplicates, invalid, control };
    port.postMessage(
      m === 'counts'
        ? ({ type: 'counts', ...counts } satisfies FleetConsumerCounts)
        : ({
            type: 'report',
            ...counts,
            vehicles: Int32Array.from(vehicles),
            latencyMs: Float64Array.from(latencyMs),
          } satisfies FleetConsumerReport),
    );
  });
  port.postMessage({ type: 'ready' } satisfies FleetConsumerMessage);
}
