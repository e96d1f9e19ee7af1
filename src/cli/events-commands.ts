import { hostname } from 'node:os';
import type { Command } from 'commander';
import { payloadProblems, type Topic, TOPICS } from '../publish/payloads.js';
import { InvalidArgumentError } from 'commander';
import { baseTopicArg, intRangeArg, urlArg } from './args.js';
import { ExitCode } from './exit-codes.js';
import { UnavailableError } from '../errors.js';

interface TailOpts {
  broker: string;
  base: string;
  count?: number;
  json?: boolean;
}

/** The contract's topic for a full topic under a base that may hold MQTT wildcards (+). */
function suffixOf(base: string, topic: string): string {
  return topic.split('/').slice(base.split('/').length).join('/');
}

/** A shared subscription's group name is one topic level (MQTT 5: no /, + or #). */
const groupArg = (v: string): string => {
  if (!/^[^/+#]+$/.test(v)) throw new InvalidArgumentError('--group must be one topic level: no /, + or #');
  return v;
};

/** Subscribes to everything the daemon publishes and checks each payload against its schema. */
async function tail(o: TailOpts): Promise<number> {
  const { default: mqtt } = await import('mqtt'); // only this command needs a client
  // No retry before the first connection: a broker that is not there is a one-line error.
  const client = mqtt.connect(o.broker, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 });
  let seen = 0;
  let invalid = 0;
  await new Promise<void>((resolve, reject) => {
    client.once('error', (err) => reject(new UnavailableError(`${o.broker}: ${err.message}`)));
    client.once('connect', () => resolve());
  });
  client.options.reconnectPeriod = 1000; // once connected, ride out a broker restart
  await client.subscribeAsync(`${o.base}/#`, { qos: 1 });
  process.stderr.write(`listening on ${o.broker} ${o.base}/#\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    client.on('message', (topic, buf, packet) => {
      const name = suffixOf(o.base, topic);
      const known = (TOPICS as string[]).includes(name);
      let payload: unknown = buf.toString('utf8');
      let problems: string[] = [];
      if (name !== 'state') {
        try {
          payload = JSON.parse(payload as string);
        } catch {
          problems = ['not JSON'];
        }
      }
      if (!known) problems = [`not a topic of the contract (${TOPICS.join(', ')})`];
      else if (problems.length === 0) problems = payloadProblems(name as Topic, payload);
      if (problems.length) invalid++;
      seen++;
      const status = problems.length ? `INVALID ${problems.join('; ')}` : 'ok';
      const retained = packet.retain ? ' (retained)' : '';
      process.stdout.write(
        o.json
          ? `${JSON.stringify({ topic, valid: problems.length === 0, problems, retained: packet.retain, payload })}\n`
          : `${new Date().toISOString().slice(11, 23)} ${topic}${retained} ${status} ${JSON.stringify(payload)}\n`,
      );
      if (o.count && seen >= o.count) resolve();
    });
  });
  await client.endAsync();
  process.stderr.write(`${seen} messages, ${invalid} invalid\n`);
  return invalid ? ExitCode.Failed : ExitCode.Ok;
}

export function addEventsCommands(program: Command): void {
  const events = program.command('events').description('what the daemon publishes on MQTT');
  events
    .command('tail')
    .description(
      'subscribe, print and validate every message against the MQTT contract (exit 1 if any invalid)',
    )
    .requiredOption('--broker <url>', 'mqtt://host:1883', urlArg('--broker', ['mqtt', 'mqtts', 'ws', 'wss']))
    .option('--base <topic>', 'base topic, + allowed', baseTopicArg('--base'), 'ecg-emotiond/+')
    .option(
      '--count <n>',
      'stop after this many messages',
      intRangeArg('--count', 1, Number.MAX_SAFE_INTEGER),
    )
    .option('--json', 'one JSON object per message')
    .action(async (o: TailOpts) => {
      process.exitCode = await tail(o);
    });
  events
    .command('sink')
    .description(
      "the fleet's consumer: every valid emotion event from a shared subscription into PostgreSQL, once (by eventId)",
    )
    .requiredOption(
      '--broker <url>',
      'mqtt://host:1883 or mqtts://…',
      urlArg('--broker', ['mqtt', 'mqtts', 'ws', 'wss']),
    )
    .requiredOption(
      '--store <url>',
      'postgres://user@host:5432/db (table emotion_events, created if missing)',
      urlArg('--store', ['postgres', 'postgresql']),
    )
    .option(
      '--base <topic>',
      'base topic, its last level the vehicle id (+ for every vehicle)',
      baseTopicArg('--base'),
      'ecg-emotiond/+',
    )
    .option(
      '--group <name>',
      'shared subscription group: sinks in one group split the events',
      groupArg,
      'ecg-emotiond-sink',
    )
    .option(
      '--no-share',
      'a plain subscription: this sink gets every event (several such sinks: redundancy, not load sharing)',
    )
    .option(
      '--client-id <id>',
      'MQTT client id: keep it across restarts (the broker keeps its session)',
      `ecg-emotiond-sink-${hostname()}`,
    )
    .option(
      '--session-expiry <s>',
      'how long the broker keeps events for a stopped sink',
      intRangeArg('--session-expiry', 0, 4_294_967_295), // MQTT 5: four bytes
      86_400,
    )
    .action(
      async (o: {
        broker: string;
        store: string;
        base: string;
        group: string;
        share: boolean;
        clientId: string;
        sessionExpiry: number;
      }) => {
        const { runEventSink } = await import('../fleet/event-sink.js');
        const stop = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await runEventSink({
          broker: o.broker,
          store: o.store,
          base: o.base,
          group: o.share ? o.group : null,
          clientId: o.clientId,
          sessionExpiryS: o.sessionExpiry,
          say: (line) => process.stderr.write(`${line}\n`),
          stop,
        });
      },
    );
}
