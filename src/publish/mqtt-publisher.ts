import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import type { BrokerLink } from '../pipeline/events.js';
import { redactUrl } from '../redact.js';
import type { Outbox } from './outbox.js';

/** The password file's content: read at the first connect and again before every retry. */
const readPassword = (file: string): string => readFileSync(file, 'utf8').trim();

export interface PublisherOptions {
  /** mqtt://host:1883 or mqtts://host:8883 */
  url: string;
  clientId: string;
  /** `<prefix>/<vehicle_id>`: state, info and events go under it. */
  baseTopic: string;
  outbox: Outbox;
  /** Retained `info` payload, re-published on every connect. */
  info: () => unknown;
  username?: string;
  /** Read at every connect, so systemd credentials (and rotations) work; never logged. */
  passwordFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Reconnect backoff: doubles from the first to the cap. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** MQTT keepalive (s): nothing from the broker for 1.5x this long means a dead link. */
  keepaliveS?: number;
  /** Connection open to CONNACK (ms). */
  connectTimeoutMs?: number;
  /** MQTT 5 session expiry (s); 0 or absent: a clean session. */
  sessionExpiryS?: number;
  /** MQTT 5 message expiry for events, seconds (0: none). */
  messageExpiryS?: number;
  /** 5 (default) or 4 (3.1.1) for brokers without MQTT 5, such as the demo's embedded aedes. */
  protocolVersion?: 4 | 5;
  log: Logger;
}

/**
 * Publishes through the durable outbox: an event is on disk before it is sent, and retired only
 * by the broker's PUBACK (QoS 1). `state` is `online`/`offline` (retained, also the Last Will) and
 * is re-published with `info` on every reconnect; pending events go out oldest first.
 */
export class MqttPublisher {
  private client: MqttClient | null = null;
  private readonly inflight = new Set<bigint>();
  private delayMs: number;
  private draining = false;
  connects = 0;
  /** Events the outbox could not store (disk full, I/O error): not accepted, so never sent. */
  refused = 0;
  /** Whether the outbox took the last event (false after a refusal, until one is stored again). */
  accepting = true;
  private lastStoreLogMs = 0;
  /** The last connection problem, one line (for logs, health and doctor); null once connected. */
  lastError: string | null = null;
  /** When the link last came up or went down (epoch ms). */
  private changedMs = Date.now();
  private up = false;
  /** How long a silent link and a silent broker are given: in the options and in the log line. */
  private readonly limits: MqttLimits;

  constructor(private readonly o: PublisherOptions) {
    this.delayMs = o.reconnectMs ?? 500;
    this.limits = { keepaliveS: o.keepaliveS ?? 30, connectTimeoutMs: o.connectTimeoutMs ?? 30_000 };
  }

  private get v5(): boolean {
    return (this.o.protocolVersion ?? 5) === 5;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** For /readyz and `stats`: up or away, for how long, and why it is away. */
  link(nowMs = Date.now()): BrokerLink {
    return {
      connected: this.connected,
      forS: Math.max(0, Math.round((nowMs - this.changedMs) / 100) / 10),
      lastError: this.lastError,
    };
  }

  async start(): Promise<void> {
    const o = this.o;
    const r = o.outbox.report;
    if (r.cutBytes > 0) {
      o.log.warn(
        { cutBytes: r.cutBytes, cutRegions: r.cutRegions, cutRecords: r.cutRecords, pending: o.outbox.depth },
        `outbox: cut ${r.cutBytes} bytes of torn or corrupt records: ${r.cutRecords} records, so up to ` +
          `${r.cutRecords} accepted events lost; ${o.outbox.depth} events pending`,
      );
    } else if (r.recovered > 0) {
      o.log.info({ pending: r.recovered }, `outbox: ${r.recovered} events pending from before`);
    }
    const persistent = Boolean(o.sessionExpiryS) && this.v5;
    const options: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: o.protocolVersion ?? 5,
      // A persistent session (MQTT 5) when asked; the outbox is the store either way.
      clean: !persistent,
      ...(persistent ? { properties: { sessionExpiryInterval: o.sessionExpiryS } } : {}),
      keepalive: this.limits.keepaliveS,
      reconnectPeriod: this.delayMs,
      // A refused CONNACK (not authorized, server unavailable) is retried like a lost connection:
      // the broker's ACL or the credential may be fixed while the daemon runs.
      reconnectOnConnackError: true,
      connectTimeout: this.limits.connectTimeoutMs,
      will: { topic: `${o.baseTopic}/state`, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(o.username ? { username: o.username } : {}),
      ...(o.passwordFile ? { password: readPassword(o.passwordFile) } : {}),
      ...(o.tls?.caFile ? { ca: await readFile(o.tls.caFile) } : {}),
      ...(o.tls?.certFile ? { cert: await readFile(o.tls.certFile) } : {}),
      ...(o.tls?.keyFile ? { key: await readFile(o.tls.keyFile) } : {}),
      rejectUnauthorized: true,
    };
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.on('connect', () => {
      this.connects++;
      this.up = true;
      this.changedMs = Date.now();
      this.lastError = null;
      this.delayMs = o.reconnectMs ?? 500;
      client.options.reconnectPeriod = this.delayMs;
      o.log.info({ broker: redactUrl(o.url), connects: this.connects }, 'MQTT connected');
      client.publish(`${o.baseTopic}/state`, 'online', { qos: 1, retain: true });
      client.publish(`${o.baseTopic}/info`, JSON.stringify(o.info()), {
        qos: 1,
        retain: true,
        ...(this.v5 ? { properties: { contentType: 'application/json' } } : {}),
      });
      void this.drain();
    });
    client.on('reconnect', () => {
      // Capped exponential backoff between attempts.
      this.delayMs = Math.min(this.delayMs * 2, o.maxReconnectMs ?? 10_000);
      client.options.reconnectPeriod = this.delayMs;
      // The password is read again at every attempt (a rotated systemd credential counts at once).
      if (o.passwordFile) {
        try {
          client.options.password = readPassword(o.passwordFile);
        } catch (err) {
          o.log.warn(
            { err: (err as Error).message },
            'mqtt.passwordFile unreadable; the last password is kept',
          );
        }
      }
    });
    client.on('close', () => {
      // mqtt.js keeps unacknowledged QoS 1 messages and resends them itself after reconnecting.
      if (this.up) this.changedMs = Date.now();
      this.up = false;
      o.log.debug({ pending: o.outbox.depth }, 'MQTT connection closed');
    });
    client.on('error', (err) => {
      // TLS and auth refusals arrive here (unknown CA, bad certificate, not authorized); no secret
      // is ever part of the message.
      const line = `MQTT broker ${redactUrl(o.url)}: ${describeMqttError(err, this.limits)}`;
      if (line === this.lastError) return; // the same failure at every retry: said once
      this.lastError = line;
      o.log.warn(
        { broker: redactUrl(o.url), err: err.message, pending: o.outbox.depth, retryInMs: this.delayMs },
        `${this.lastError}; retrying with backoff, events wait in the outbox (${o.outbox.depth} pending)`,
      );
    });
  }

  /**
   * Stores the event durably, then sends it if the broker is there. Resolves to its outbox id, or
   * null when the outbox could not store it (counted and logged; the daemon carries on).
   */
  async publish(subtopic: string, payload: unknown): Promise<bigint | null> {
    const dropped = this.o.outbox.report.droppedOldest;
    let id: bigint;
    try {
      id = await this.o.outbox.append(`${this.o.baseTopic}/${subtopic}`, JSON.stringify(payload));
    } catch (err) {
      this.refused++;
      this.accepting = false;
      this.storeFailed('event not accepted', err as Error);
      return null;
    }
    this.accepting = true;
    const now = this.o.outbox.report.droppedOldest;
    if (now > dropped) {
      this.o.log.warn(
        { dropped: now - dropped, droppedTotal: now },
        `outbox full: dropped the ${now - dropped} oldest events`,
      );
    }
    void this.drain();
    return id;
  }

  /** Sends pending events in order; each one's PUBACK retires it from the outbox. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (const e of this.o.outbox.pending()) {
        const client = this.client;
        if (!client?.connected) return;
        if (this.inflight.has(e.id)) continue;
        this.inflight.add(e.id);
        client.publish(
          e.topic,
          e.payload,
          {
            qos: 1,
            retain: e.topic.endsWith('/emotion/state'), // the contract's retained current state
            ...(this.v5
              ? {
                  properties: {
                    contentType: 'application/json',
                    userProperties: { outboxId: e.id.toString() },
                    ...(this.o.messageExpiryS ? { messageExpiryInterval: this.o.messageExpiryS } : {}),
                  },
                }
              : {}),
          },
          (err) => {
            // Still "in flight" until the ack is on disk, so a drain meanwhile does not resend it.
            if (err) this.inflight.delete(e.id);
            else
              void this.o.outbox
                .ack(e.id)
                .catch((ackErr: Error) => this.storeFailed('acknowledgement not recorded', ackErr))
                .finally(() => this.inflight.delete(e.id));
          },
        );
      }
    } finally {
      this.draining = false;
    }
  }

  /** One log line per failing minute, not one per event. */
  private storeFailed(what: string, err: Error): void {
    const now = Date.now();
    if (now - this.lastStoreLogMs < 60_000) return;
    this.lastStoreLogMs = now;
    this.o.log.error(
      { err: err.message, refused: this.refused },
      `outbox write failed (${(err as NodeJS.ErrnoException).code ?? err.message}): ${what}; ${this.refused} events refused so far`,
    );
  }

  /** Publishes `offline` (retained) and disconnects; pending events stay in the outbox. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await new Promise<void>((r) =>
        client.publish(`${this.o.baseTopic}/state`, 'offline', { qos: 1, retain: true }, () => r()),
      );
    }
    await new Promise<void>((r) => client.end(false, {}, () => r()));
    this.client = null;
  }
}

/** The timeouts a client connected with, for naming them when they expire. */
export interface MqttLimits {
  keepaliveS: number;
  connectTimeoutMs: number;
}

/** One readable line for the TLS, auth and timeout failures operators meet (OpenSSL's text is not that). */
export function describeMqttError(err: Error & { code?: string | number }, limits: MqttLimits): string {
  const m = err.message;
  if (m === 'Keepalive timeout') {
    return `the link went silent: nothing from the broker for ${1.5 * limits.keepaliveS} s (1.5 x mqtt.keepaliveS ${limits.keepaliveS})`;
  }
  if (m === 'connack timeout') {
    return `no CONNACK within ${limits.connectTimeoutMs / 1000} s of connecting (mqtt.connectTimeoutMs): the broker or the path to it accepts but does not answer`;
  }
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(m)?.[1];
  if (alert === 'unknown ca' || alert === 'bad certificate' || alert === 'certificate required') {
    return `the broker refused our client certificate (TLS alert "${alert}": not signed by a CA it trusts, or missing)`;
  }
  if (alert) return `TLS refused by the broker (alert "${alert}")`;
  if (
    /self[- ]signed|unable to (get|verify)|certificate verify failed|UNABLE_TO_VERIFY/i.test(
      m + (err.code ?? ''),
    )
  ) {
    return `the broker's certificate is not trusted (check the CA file): ${m}`;
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|altnames/i.test(m + (err.code ?? ''))) {
    return `the broker's certificate does not name this host: ${m}`;
  }
  if (err.code === 'EPERM' && /connect/.test(m)) {
    // A connect refused before it leaves the machine: the unit's IPAddressDeny= (BPF) or a firewall.
    return `${m}: this host may not reach that address (the systemd unit's IPAddressAllow=? run ecg-emotiond doctor)`;
  }
  return m;
}
