import { type FileHandle, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * The durable outbox: every event is appended to an on-disk log before it is published, and only
 * an acknowledgement record (written after the broker's PUBACK) retires it. Append-only records:
 *
 *   u32 magic "EOB1" · u32 body length · u32 CRC-32 of the body · body
 *   body: u8 kind (1 event, 2 ack, 3 id watermark) · u64 id · for events: u16 topic length · topic · payload
 *
 * On open, records are checked one by one; a torn or corrupt stretch (power cut mid-write, bit
 * rot) fails its CRC or length and is cut, the reader resynchronising at the next valid magic.
 * The log is compacted (pending events rewritten to a new file, then renamed) when acknowledged
 * records dominate it, or when it would outgrow `maxBytes`: then the oldest pending events are
 * dropped, counted and reported.
 */
const MAGIC = 0x31424f45; // "EOB1" little-endian
const HEAD = 12;
const EVENT = 1;
const ACK = 2;
/** The highest id issued so far (written by compaction, so ids never repeat after a restart). */
const WATERMARK = 3;
const FILE = 'outbox.log';
/** Holds the pid of the process that has the outbox open. */
const LOCK = 'outbox.lock';

/** Thrown when another live process has the outbox open (two daemons would interleave ids). */
export class OutboxInUseError extends Error {
  readonly code = 'EBUSY';
}

/**
 * Takes `<dir>/outbox.lock` for this process: created exclusively; a lock left by a process that
 * is gone (a crash, a power cut) is taken over, one held by a live process is refused.
 */
async function takeLock(dir: string): Promise<void> {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid > 0 && pid !== process.pid && alive(pid)) {
      throw new OutboxInUseError(`in use by process ${pid} (${path})`);
    }
    await unlink(path).catch(() => {});
  }
  throw new OutboxInUseError(`could not take ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface OutboxOptions {
  /** Largest log size; oldest pending events are dropped (and counted) beyond it. */
  maxBytes?: number;
  /** always: fsync before `append` resolves (survives a power cut); interval: every `fsyncIntervalMs`. */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
}

export interface OutboxEntry {
  id: bigint;
  topic: string;
  payload: Buffer;
}

export interface OutboxReport {
  /** Pending events found at open. */
  recovered: number;
  /** Bytes of torn or corrupt records cut at open. */
  cutBytes: number;
  /** Stretches cut (a torn tail is one). */
  cutRegions: number;
  /**
   * Records that began in the cut stretches: each was an event or an acknowledgement, so this is
   * how many accepted events may have been lost (at most). Their ids are never issued again.
   */
  cutRecords: number;
  /** Oldest events dropped to stay within maxBytes (since open). */
  droppedOldest: number;
}

function encodeRecord(kind: number, id: bigint, topic = '', payload: Buffer = Buffer.alloc(0)): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const bodyLen = 1 + 8 + (kind === EVENT ? 2 + t.length + payload.length : 0);
  const buf = Buffer.alloc(HEAD + bodyLen);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(bodyLen, 4);
  buf.writeUInt8(kind, HEAD);
  buf.writeBigUInt64LE(id, HEAD + 1);
  if (kind === EVENT) {
    buf.writeUInt16LE(t.length, HEAD + 9);
    t.copy(buf, HEAD + 11);
    payload.copy(buf, HEAD + 11 + t.length);
  }
  buf.writeUInt32LE(crc32(buf.subarray(HEAD)), 8);
  return buf;
}

interface Scan {
  events: Map<bigint, OutboxEntry & { bytes: number }>;
  maxId: bigint;
  cutBytes: number;
  cutRegions: number;
  cutRecords: number;
  /** End of the last valid record: a torn tail starts here. */
  goodEnd: number;
  /** A corrupt stretch before goodEnd (needs a rewrite, not just a truncate). */
  holes: boolean;
}

/** Reads every valid record; never throws on content. */
export function scanLog(buf: Buffer): Scan {
  const events = new Map<bigint, OutboxEntry & { bytes: number }>();
  let maxId = 0n;
  let at = 0;
  let cutBytes = 0;
  let cutRegions = 0;
  let cutRecords = 0;
  let inCut = false;
  let goodEnd = 0;
  let holes = false;
  while (at < buf.length) {
    const ok = at + HEAD <= buf.length && buf.readUInt32LE(at) === MAGIC && validAt(buf, at);
    if (!ok) {
      if (!inCut) cutRegions++;
      if (at + 4 <= buf.length && buf.readUInt32LE(at) === MAGIC) cutRecords++;
      inCut = true;
      cutBytes++;
      at++;
      continue;
    }
    if (inCut) holes = true;
    inCut = false;
    const len = buf.readUInt32LE(at + 4);
    const body = buf.subarray(at + HEAD, at + HEAD + len);
    const kind = body[0];
    const id = body.readBigUInt64LE(1);
    if (id > maxId) maxId = id;
    if (kind === EVENT) {
      const tl = body.readUInt16LE(9);
      events.set(id, {
        id,
        topic: body.subarray(11, 11 + tl).toString('utf8'),
        payload: Buffer.from(body.subarray(11 + tl)),
        bytes: HEAD + len,
      });
    } else if (kind === ACK) {
      events.delete(id);
    }
    at += HEAD + len;
    goodEnd = at;
  }
  // The cut records held the newest ids at most: skip as many, so none is issued twice.
  return { events, maxId: maxId + BigInt(cutRecords), cutBytes, cutRegions, cutRecords, goodEnd, holes };
}

function validAt(buf: Buffer, at: number): boolean {
  const len = buf.readUInt32LE(at + 4);
  if (len < 9 || at + HEAD + len > buf.length) return false;
  const body = buf.subarray(at + HEAD, at + HEAD + len);
  if (crc32(body) !== buf.readUInt32LE(at + 8)) return false;
  const kind = body[0];
  if (kind === ACK || kind === WATERMARK) return len === 9;
  return kind === EVENT && len >= 11 && 11 + body.readUInt16LE(9) <= len;
}

export class Outbox {
  readonly report: OutboxReport;
  private readonly pendingEvents: Map<bigint, OutboxEntry & { bytes: number }>;
  private nextId: bigint;
  private fh: FileHandle;
  private size: number;
  private pendingBytes: number;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly o: Required<OutboxOptions>,
    fh: FileHandle,
    scan: Scan,
    size: number,
  ) {
    this.fh = fh;
    this.pendingEvents = scan.events;
    this.nextId = scan.maxId + 1n;
    this.size = size;
    this.pendingBytes = [...scan.events.values()].reduce((a, e) => a + e.bytes, 0);
    this.report = {
      recovered: scan.events.size,
      cutBytes: scan.cutBytes,
      cutRegions: scan.cutRegions,
      cutRecords: scan.cutRecords,
      droppedOldest: 0,
    };
    if (o.fsync === 'interval') {
      this.timer = setInterval(() => void this.serial(() => this.sync()), o.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  /** Opens (or creates) `<dir>/outbox.log`, cutting any torn or corrupt records. */
  static async open(dir: string, options: OutboxOptions = {}): Promise<Outbox> {
    const o: Required<OutboxOptions> = {
      maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
      fsync: options.fsync ?? 'always',
      fsyncIntervalMs: options.fsyncIntervalMs ?? 1000,
    };
    await mkdir(dir, { recursive: true });
    await takeLock(dir);
    const file = join(dir, FILE);
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      buf = Buffer.alloc(0);
    }
    const scan = scanLog(buf);
    if (scan.holes) {
      // Corruption inside the log: rewrite the pending events into a clean file.
      await writeLog(dir, [...scan.events.values()], scan.maxId);
      const fh = await open(file, 'a');
      const size = (await fh.stat()).size;
      return new Outbox(dir, o, fh, scan, size);
    }
    const fh = await open(file, buf.length ? 'r+' : 'a');
    if (scan.goodEnd < buf.length) {
      await fh.truncate(scan.goodEnd); // the torn tail
      await fh.sync();
    }
    await fh.close();
    return new Outbox(dir, o, await open(file, 'a'), scan, scan.goodEnd);
  }

  get depth(): number {
    return this.pendingEvents.size;
  }

  get bytes(): number {
    return this.size;
  }

  /** Pending events, oldest first. */
  pending(): OutboxEntry[] {
    return [...this.pendingEvents.values()]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map(({ id, topic, payload }) => ({ id, topic, payload }));
  }

  /** Appends an event; resolves once it is on disk as the fsync policy says. Returns its id. */
  append(topic: string, payload: Buffer | string): Promise<bigint> {
    return this.serial(async () => {
      const id = this.nextId++;
      const rec = encodeRecord(EVENT, id, topic, Buffer.from(payload));
      if (rec.length > this.o.maxBytes)
        throw new RangeError(`event of ${rec.length} bytes exceeds the outbox`);
      if (this.size + rec.length > this.o.maxBytes) await this.compact(rec.length);
      await this.write(rec);
      this.pendingEvents.set(id, { id, topic, payload: Buffer.from(payload), bytes: rec.length });
      this.pendingBytes += rec.length;
      return id;
    });
  }

  /** The broker acknowledged `id` (PUBACK): it is retired. */
  ack(id: bigint): Promise<void> {
    return this.serial(async () => {
      const e = this.pendingEvents.get(id);
      if (!e) return;
      this.pendingEvents.delete(id);
      this.pendingBytes -= e.bytes;
      await this.write(encodeRecord(ACK, id));
      // Mostly retired records: rewrite what is pending (small) instead of growing forever.
      if (this.size > 1024 * 1024 && this.pendingBytes < this.size / 4) await this.compact(0);
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.serial(async () => {
      await this.sync();
      await this.fh.close();
    });
    await unlink(join(this.dir, LOCK)).catch(() => {});
  }

  private async write(rec: Buffer): Promise<void> {
    await this.fh.write(rec);
    this.size += rec.length;
    this.dirty = true;
    if (this.o.fsync === 'always') await this.sync();
  }

  private async sync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.fh.datasync();
  }

  /** Rewrites the pending events; drops the oldest while they and `room` exceed maxBytes. */
  private async compact(room: number): Promise<void> {
    const events = this.pending().map((e) => ({ ...e, bytes: this.pendingEvents.get(e.id)!.bytes }));
    let total = events.reduce((a, e) => a + e.bytes, 0);
    while (events.length && total + room > this.o.maxBytes) {
      const dropped = events.shift()!;
      total -= dropped.bytes;
      this.pendingEvents.delete(dropped.id);
      this.report.droppedOldest++;
    }
    await this.fh.close();
    await writeLog(this.dir, events, this.nextId - 1n);
    this.fh = await open(join(this.dir, FILE), 'a');
    this.size = (await this.fh.stat()).size;
    this.pendingBytes = total;
  }

  /** One file operation at a time, in call order. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op);
    this.queue = next.catch(() => {});
    return next;
  }
}

/**
 * Writes events to a new log and renames it over the old one (atomic on POSIX). A watermark record
 * with the highest id ever issued keeps ids increasing across restarts even when nothing is pending.
 */
async function writeLog(dir: string, events: OutboxEntry[], highWater: bigint): Promise<void> {
  const tmp = join(dir, `${FILE}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    const records = events.map((e) => encodeRecord(EVENT, e.id, e.topic, e.payload));
    if (highWater > 0n) records.push(encodeRecord(WATERMARK, highWater));
    await fh.write(Buffer.concat(records));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, FILE));
  const d = await open(dir, 'r');
  try {
    await d.sync(); // the rename itself survives a power cut
  } finally {
    await d.close();
  }
}
