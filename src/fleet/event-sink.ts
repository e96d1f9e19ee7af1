import type { IPublishPacket } from 'mqtt';
import { UnavailableError } from '../errors.js';
import { payloadProblems } from '../publish/payloads.js';
import { redactUrl } from '../redact.js';
import { EventStore, type StoredEvent } from './event-store.js';

export interface EventSinkOptions {
  broker: string;
  /** postgres://user@host/db */
  store: string;
  /** The vehicles' base topic: `<prefix>/+` (the + is the vehicle id) or one vehicle's. */
  base: string;
  /**
   * The shared subscription's group: sinks in one group split the events between them. null: a
   * plain subscription (each sink gets every event; the eventId keeps the rows single).
   */
  group: string | null;
  clientId: string;
  /** MQTT 5 session expiry (s): events published while the sink is down wait this long for it. */
  sessionExpiryS: number;
  /** Status lines (stderr). */
  say: (line: string) => void;
  /** Resolves when the sink should stop. */
  stop: Promise<void>;
}

export interface EventSinkCounts {
  stored: number;
  duplicates: number;
  invalid: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PostgreSQL's SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
const isDataError = (err: unknown): boolean =>
  /^2[23][0-9A-Z]{3}$/.test(String((err as { code?: unknown }).code));

/**
 * The fleet's consumer: reads `emotion` on a shared subscription with a persistent session and
 * writes each valid event once. A message is acknowledged (PUBACK) only after its row is
 * committed, so a sink killed at any point loses nothing: the broker sends what was not
 * acknowledged again, and the row's eventId turns the second copy away.
 */
export async function runEventSink(o: EventSinkOptions): Promise<EventSinkCounts> {
  const { default: mqtt } = await import('mqtt');
  const store = await EventStore.open(o.store);
  const counts: EventSinkCounts = { stored: 0, duplicates: 0, invalid: 0 };
  const vehicleAt = o.base.split('/').length - 1;
  let stopping = false;
  let lastInvalidSaidMs = 0;

  const handle = async (packet: IPublishPacket): Promise<boolean> => {
    const vehicleId = packet.topic.split('/')[vehicleAt];
    let payload: unknown;
    let problems: string[];
    try {
      payload = JSON.parse(packet.payload.toString());
      problems = payloadProblems('emotion', payload);
    } catch {
      problems = ['not JSON'];
    }
    const refuse = (why: string): boolean => {
      counts.invalid++;
      // Acknowledged and dropped: sending it again would not make it valid. Said once a minute.
      if (Date.now() - lastInvalidSaidMs > 60_000) {
        lastInvalidSaidMs = Date.now();
        o.say(`invalid event on ${packet.topic} (not stored; ${counts.invalid} so far): ${why}`);
      }
      return true;
    };
    if (problems.length) return refuse(problems.join('; '));
    const p = payload as StoredEvent['payload'] & { eventId: string };
    for (let delayMs = 500, said = false; ; delayMs = Math.min(delayMs * 2, 30_000)) {
      try {
        if (await store.insert({ eventId: p.eventId, vehicleId, payload: p })) counts.stored++;
        else counts.duplicates++;
        if (said) o.say(`${store.where}: writing again`);
        return true;
      } catch (err) {
        // The database refusing this row's data (a date the schema's format lets through, a NUL
        // character) is the message's fault: retrying it would stop the sink for good.
        if (isDataError(err)) return refuse(`the database refused it: ${(err as Error).message}`);
        if (!said) o.say(`${store.where}: ${(err as Error).message}; retrying, events wait at the broker`);
        said = true;
        if (stopping) return false; // not acknowledged: the broker keeps it for the next start
        await sleep(delayMs);
      }
    }
  };

  // No retry before the first connection: a broker that is not there is a one-line error.
  const client = mqtt.connect(o.broker, {
    protocolVersion: 5,
    clientId: o.clientId,
    clean: false,
    properties: { sessionExpiryInterval: o.sessionExpiryS },
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  // mqtt.js sends the PUBACK when this calls back: only after the row is committed.
  client.handleMessage = (packet, done) => {
    void handle(packet).then((acked) => {
      if (acked) done();
    });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('error', (err) => reject(new UnavailableError(`${redactUrl(o.broker)}: ${err.message}`)));
      client.once('connect', () => resolve());
    });
  } catch (err) {
    client.end(true);
    await store.close();
    throw err;
  }
  client.options.reconnectPeriod = 1000; // once connected, ride out a broker restart
  client.on('error', () => undefined); // reconnects are mqtt.js's; nothing to crash on
  const topic = `${o.base}/emotion`;
  const filter = o.group ? `$share/${o.group}/${topic}` : topic;
  await client.subscribeAsync(filter, { qos: 1 });
  // mqtt.js subscribes again only when the broker kept no session. mosquitto 2.0 restarted from its
  // persistence restores a session's shared subscription broken: nothing reaches it, even when
  // subscribed again, until it is unsubscribed first. So at every reconnect a shared subscription
  // is made anew (in the round trip between the two, a group with no other member misses what is
  // published), and a plain one is renewed (messages queued for the session stay queued).
  client.on('connect', () => {
    void (async () => {
      if (o.group) await client.unsubscribeAsync(filter);
      await client.subscribeAsync(filter, { qos: 1 });
      o.say(`reconnected to ${redactUrl(o.broker)}: subscribed to ${filter} again`);
    })().catch(() => undefined);
  });
  o.say(`listening on ${redactUrl(o.broker)} ${filter} → ${store.where}`);
  await o.stop;
  stopping = true;
  await client.endAsync(true);
  await store.close();
  o.say(`${counts.stored} stored, ${counts.duplicates} duplicates skipped, ${counts.invalid} invalid`);
  return counts;
}
