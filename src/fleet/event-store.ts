import pg from 'pg';
import { UnavailableError } from '../errors.js';
import { redactUrl } from '../redact.js';

/** One validated `emotion` event as the fleet stores it. */
export interface StoredEvent {
  eventId: string;
  vehicleId: string;
  payload: {
    episodeId: string;
    type: string;
    label: string;
    confidence: number;
    time: string;
  };
}

// The payload is kept whole (jsonb); the columns a fleet query filters on are pulled out of it.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS emotion_events (
  event_id    uuid PRIMARY KEY,
  vehicle_id  text NOT NULL,
  episode_id  uuid NOT NULL,
  type        text NOT NULL,
  label       text NOT NULL,
  confidence  double precision NOT NULL,
  event_time  timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  payload     jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS emotion_events_vehicle_time ON emotion_events (vehicle_id, event_time);
`;

/**
 * The fleet's event table in PostgreSQL. An event is written once: a second copy (a QoS 1
 * redelivery, the same event over two paths) finds its eventId taken and is counted, not stored.
 */
export class EventStore {
  private constructor(
    private readonly pool: pg.Pool,
    readonly where: string,
  ) {}

  static async open(url: string): Promise<EventStore> {
    const where = `PostgreSQL ${redactUrl(url)}`;
    // A pool of one: a connection lost to a database restart is replaced at the next query.
    const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000 });
    // An idle connection that drops surfaces at the next query; this keeps it from being uncaught.
    pool.on('error', () => undefined);
    try {
      await pool.query(SCHEMA);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new UnavailableError(`${where}: ${(err as Error).message}`);
    }
    return new EventStore(pool, where);
  }

  /** Stores the event unless its eventId is there already; true when this call stored it. */
  async insert(e: StoredEvent): Promise<boolean> {
    const p = e.payload;
    const r = await this.pool.query(
      `INSERT INTO emotion_events (event_id, vehicle_id, episode_id, type, label, confidence, event_time, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING`,
      [e.eventId, e.vehicleId, p.episodeId, p.type, p.label, p.confidence, p.time, JSON.stringify(p)],
    );
    return r.rowCount === 1;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
