import { type Db, type DbTx, quoteIdent } from '@massivesms/db';
import type { BusProducer, OutgoingRecord } from '@massivesms/messaging';

/**
 * The transactional outbox (DESIGN.md §5.0). A service writes the events that announce a state
 * change into its own outbox table in the same statement or transaction as the change; the relay
 * publishes them to Kafka in batches, oldest first, and deletes them in the transaction that is
 * committed only after the broker acknowledged. A failure anywhere leaves the rows to be published
 * again (at least once; event ids are deterministic, so consumers drop the copy).
 *
 * One row holds every record a statement wrote (its `count` of them), framed back to back in
 * `records` (see `encodeRecords`): a row write per statement, not per record, and the records go to
 * the server as one binary parameter. Each service creates its table in a migration of its own, with
 * exactly these columns:
 *
 * ```sql
 * CREATE TABLE <service>_outbox (
 *   id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
 *   records bytea NOT NULL, count int NOT NULL CHECK (count > 0));
 * ```
 */

/**
 * Frame format version. A frame is, integers big-endian: the version byte; the topic (int32 length,
 * UTF-8); the key and the value (int32 length or -1 for null, then the bytes); the headers (int32
 * count or -1 for none, then per header its name and value, each int32 length and UTF-8). Frames are
 * self-delimiting, so frames concatenated are a valid `records` value too (the SQL of `outboxInsert`
 * keeps some items' frames and glues them together).
 */
const FRAME_V1 = 1;

/** Encodes records as frames, back to back (the `records` column of an outbox row). */
export function encodeRecords(records: readonly OutgoingRecord[]): Buffer {
  return encodeItems([records]).blob;
}

/** Decodes a `records` column back into the records it holds, in order. */
export function decodeRecords(blob: Uint8Array): OutgoingRecord[] {
  const buf = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const records: OutgoingRecord[] = [];
  let at = 0;
  const int = () => {
    if (at + 4 > buf.length) throw new OutboxFrameError(at);
    const v = buf.readInt32BE(at);
    at += 4;
    return v;
  };
  const bytes = (length: number) => {
    if (length < 0 || at + length > buf.length) throw new OutboxFrameError(at);
    const b = buf.subarray(at, at + length);
    at += length;
    return b;
  };
  const text = (length: number) => bytes(length).toString('utf8');
  while (at < buf.length) {
    if (buf[at] !== FRAME_V1) throw new OutboxFrameError(at);
    at++;
    const topic = text(int());
    const keyLength = int();
    const key = keyLength === -1 ? null : text(keyLength);
    const valueLength = int();
    const value = valueLength === -1 ? null : bytes(valueLength);
    const headerCount = int();
    let headers: Record<string, string> | undefined;
    if (headerCount !== -1) {
      if (headerCount < 0) throw new OutboxFrameError(at);
      headers = {};
      for (let i = 0; i < headerCount; i++) {
        const name = text(int());
        headers[name] = text(int());
      }
    }
    records.push(headers ? { topic, key, value, headers } : { topic, key, value });
  }
  return records;
}

/** An outbox row's records that are not a sequence of frames (a bug, or a row written by hand). */
export class OutboxFrameError extends Error {
  readonly code = 'OUTBOX_FRAME_INVALID';
  readonly offset: number;
  constructor(offset: number) {
    super(`outbox records are not valid frames (at byte ${offset})`);
    this.name = 'OutboxFrameError';
    this.offset = offset;
  }
}

/** Frames of several items' records in one buffer, and where each item's frames are. */
interface EncodedItems {
  readonly blob: Buffer;
  /** Per item (in order): 1-based start in `blob`, byte length and record count. */
  readonly starts: number[];
  readonly lengths: number[];
  readonly counts: number[];
}

function encodeItems(perItem: readonly (readonly OutgoingRecord[])[]): EncodedItems {
  // Sizes first, so the frames are written into one allocation.
  let size = 0;
  for (const records of perItem)
    for (const r of records) {
      size += 1 + 4 + Buffer.byteLength(r.topic) + 4 + 4 + 4;
      if (r.key !== null) size += Buffer.byteLength(r.key);
      if (r.value !== null) size += typeof r.value === 'string' ? Buffer.byteLength(r.value) : r.value.length;
      if (r.headers)
        for (const name in r.headers)
          size += 8 + Buffer.byteLength(name) + Buffer.byteLength(r.headers[name]!);
    }
  const blob = Buffer.allocUnsafe(size);
  let at = 0;
  const int = (v: number) => {
    at = blob.writeInt32BE(v, at);
  };
  const text = (s: string) => {
    const length = blob.write(s, at + 4);
    int(length);
    at += length;
  };
  const starts: number[] = [];
  const lengths: number[] = [];
  const counts: number[] = [];
  for (const records of perItem) {
    const start = at;
    for (const r of records) {
      blob[at++] = FRAME_V1;
      text(r.topic);
      if (r.key === null) int(-1);
      else text(r.key);
      if (r.value === null) int(-1);
      else if (typeof r.value === 'string') text(r.value);
      else {
        int(r.value.length);
        at += r.value.copy(blob, at);
      }
      if (!r.headers) int(-1);
      else {
        const names = Object.keys(r.headers);
        int(names.length);
        for (const name of names) {
          text(name);
          text(r.headers[name]!);
        }
      }
    }
    starts.push(start + 1);
    lengths.push(at - start);
    counts.push(records.length);
  }
  return { blob, starts, lengths, counts };
}

/**
 * An `INSERT` of one outbox row holding the records of the items that pass `filter`, for a statement
 * (or a data-modifying `WITH` item) whose parameters `$first…$first+3` are `outboxParams(…)`. Items
 * are numbered from 1 as `e.item`, so `filter` may keep only those whose state really changed, e.g.
 * `e.item IN (SELECT ord FROM updated)` or `EXISTS (SELECT 1 FROM moved)`. No row when nothing passes.
 */
export function outboxInsert(table: string, first: number, filter = 'true'): string {
  const p = (i: number) => `$${first + i}`;
  return `INSERT INTO ${quoteIdent(table)} (records, count)
          SELECT string_agg(substring(${p(0)}::bytea FROM e.start FOR e.length), ''::bytea ORDER BY e.item),
                 sum(e.n)
            FROM unnest(${p(1)}::int[], ${p(2)}::int[], ${p(3)}::int[]) WITH ORDINALITY AS e(start, length, n, item)
           WHERE e.n > 0 AND (${filter})
          HAVING count(*) > 0`;
}

/**
 * The parameters matching `outboxInsert`, from each item's records (in item order; an item may have
 * none). The frames travel as one binary parameter; the per-item offsets as small int arrays.
 */
export function outboxParams(perItem: readonly (readonly OutgoingRecord[])[]): unknown[] {
  const { blob, starts, lengths, counts } = encodeItems(perItem);
  return [blob, starts, lengths, counts];
}

/** Writes records to the outbox within `tx` (or as a statement of its own): one row. */
export async function writeOutbox(
  tx: DbTx,
  table: string,
  records: readonly OutgoingRecord[],
): Promise<void> {
  if (records.length === 0) return;
  await tx.query(`INSERT INTO ${quoteIdent(table)} (records, count) VALUES ($1, $2)`, [
    encodeRecords(records),
    records.length,
  ]);
}

export interface OutboxRelayOptions {
  readonly db: Db;
  readonly table: string;
  readonly producer: BusProducer;
  /**
   * Records published per Kafka request (default 500). A pass takes whole rows until it holds this
   * many records; a row holding more goes out in several requests.
   */
  readonly batchSize?: number;
  /** Poll interval when nobody wakes the relay (rows written by another instance; default 1 s). */
  readonly idleMs?: number;
  /** Backoff after a failed pass (broker or database down): first, then doubled up to max. */
  readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  /**
   * Published (deleted) rows after which the table is vacuumed: the relay reads from the oldest row,
   * so without vacuum (autovacuum off, or behind) every pass would walk the dead index entries of
   * everything published before. Default 20,000; 0 turns it off.
   */
  readonly vacuumAfterRows?: number;
  /** Records (not rows) published by a pass. */
  readonly onPublished?: (count: number) => void;
  /**
   * Records waiting, after a pass of this relay: 0 when it caught up; during a backlog, the records
   * of at most 100,000 rows summed, at most every 5 s (the only extra query, made only when set).
   */
  readonly onDepth?: (records: number) => void;
  readonly onError?: (error: unknown) => void;
}

/** A running relay. */
export interface OutboxRelay {
  /** New rows were committed: publish them now (a wake during a pass runs another pass after it). */
  wake(): void;
  /** Resolves once everything committed before the call has been published (tests, shutdown). */
  flushed(): Promise<void>;
  /**
   * Stops after the pass in flight, waiting for it at most `max(drainMs, 1 s)` (a produce stuck on a
   * broker that is down is abandoned); unpublished rows stay for the next start. With `drainMs`,
   * first waits up to that long for what is already stored to be published (a graceful shutdown).
   */
  stop(options?: { readonly drainMs?: number }): Promise<void>;
}

/**
 * Starts the relay of one outbox table. Several processes may run one on the same table: a
 * transaction-scoped advisory lock lets one publish at a time, so records leave in table order.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const table = quoteIdent(options.table);
  const batchSize = options.batchSize ?? 500;
  const idleMs = options.idleMs ?? 1_000;
  const backoff = options.retryBackoffMs ?? { initial: 100, max: 5_000 };
  const vacuumAfter = options.vacuumAfterRows ?? 20_000;
  let running = true;
  let woken = false;
  let wakeUp: (() => void) | undefined;
  let sinceVacuum = 0;
  /** Passes started so far: a flush waits for an empty pass that started after it asked. */
  let started = 0;
  const passWaiters: { after: number; resolve: () => void }[] = [];

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (woken || !running) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  /**
   * One pass: publishes the oldest rows, adding rows until they hold `batchSize` records (a row is
   * never split, so a pass may publish more); `rows` is -1 when another relay holds the table.
   */
  async function pass(): Promise<{ rows: number; records: number }> {
    return options.db.transaction(async (tx) => {
      // One statement takes the lock and, only if it got it, the rows (the ids are found first, so
      // they are deleted through the primary key whatever the plan). Every row holds at least one
      // record: `batchSize` rows bound the scan; the running total drops the rows after the one that
      // reached the budget. The outer join answers `held` even when no row was taken.
      const { rows: taken } = await tx.query<{
        held: boolean;
        id: string | null;
        records: Buffer | null;
        count: number | null;
      }>(
        `WITH lock AS (
           SELECT pg_try_advisory_xact_lock(hashtext('massivesms.outbox'), hashtext(current_schema() || '.' || $2)) AS held
         ), taken AS (
           DELETE FROM ${table}
            WHERE (SELECT held FROM lock)
              AND id = ANY (ARRAY(SELECT id FROM (SELECT id, sum(count) OVER (ORDER BY id) - count AS before
                                                    FROM ${table} ORDER BY id LIMIT $1) o
                                   WHERE before < $1))
           RETURNING id, records, count
         )
         SELECT lock.held, taken.id, taken.records, taken.count FROM lock LEFT JOIN taken ON true`,
        [batchSize, options.table],
      );
      if (!taken[0]?.held) return { rows: -1, records: 0 };
      const rows = taken.filter(
        (r): r is { held: boolean; id: string; records: Buffer; count: number } => r.id !== null,
      );
      if (rows.length === 0) return { rows: 0, records: 0 };
      // RETURNING promises no order: put the records back in the order they were written.
      rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      const records: OutgoingRecord[] = [];
      for (const row of rows) {
        const decoded = decodeRecords(row.records);
        if (decoded.length !== row.count)
          throw new Error(`outbox row ${row.id} holds ${decoded.length} records, not its count ${row.count}`);
        for (const r of decoded) records.push(r);
      }
      // A row may hold more than a batch (a statement wrote many records): each Kafka request stays
      // within `batchSize`, sent in order; all of them are acknowledged before the rows go.
      for (let i = 0; i < records.length; i += batchSize)
        await options.producer.send(records.slice(i, i + batchSize));
      return { rows: rows.length, records: records.length };
    });
  }

  const depth = depthReporter(options, table);
  const loop = (async () => {
    let failures = 0;
    while (running) {
      woken = false;
      const index = ++started;
      let published = 0;
      let full = false;
      try {
        const done = await pass();
        published = done.rows;
        full = done.records >= batchSize;
        if (done.records > 0) options.onPublished?.(done.records);
        failures = 0;
      } catch (error) {
        failures++;
        options.onError?.(error);
        await sleep(Math.min(backoff.max, backoff.initial * 2 ** (failures - 1)));
        continue;
      }
      if (published >= 0) await depth.report(!full);
      if (published > 0) {
        sinceVacuum += published;
        if (vacuumAfter > 0 && sinceVacuum >= vacuumAfter) {
          sinceVacuum = 0;
          await options.db.query(`VACUUM ${table}`).catch((error: unknown) => options.onError?.(error));
        }
      }
      // A pass that found the table empty settles the waiters that asked before it started.
      if (published === 0) {
        for (const w of passWaiters.splice(0))
          if (w.after < index) w.resolve();
          else passWaiters.push(w);
      }
      if (full) continue; // a backlog: next batch at once
      // Another relay is publishing: look again soon, in case it finishes before our rows commit.
      await sleep(published === -1 ? Math.min(50, idleMs) : idleMs);
    }
    for (const w of passWaiters.splice(0)) w.resolve();
  })();

  return {
    wake() {
      woken = true;
      wakeUp?.();
    },
    flushed() {
      if (!running) return Promise.resolve();
      return new Promise<void>((resolve) => {
        passWaiters.push({ after: started, resolve });
        this.wake();
      });
    },
    async stop({ drainMs = 0 } = {}) {
      if (drainMs > 0 && running) await bounded(this.flushed(), drainMs);
      running = false;
      wakeUp?.();
      // A pass stuck producing (the broker is down and the client retries) is not waited for past
      // the bound: its transaction rolls back when the bus is closed or the process exits, and the
      // rows stay for the next start.
      await bounded(loop, Math.max(drainMs, 1_000));
    },
  };
}

/** See `OutboxRelayOptions.onDepth`. */
function depthReporter(options: OutboxRelayOptions, table: string) {
  let countedAt = 0;
  return {
    async report(caughtUp: boolean): Promise<void> {
      const onDepth = options.onDepth;
      if (!onDepth) return;
      if (caughtUp) return onDepth(0);
      if (Date.now() - countedAt < 5_000) return;
      countedAt = Date.now();
      try {
        const { rows } = await options.db.query<{ n: string }>(
          `SELECT coalesce(sum(count), 0) AS n FROM (SELECT count FROM ${table} LIMIT 100000) waiting`,
        );
        onDepth(Number(rows[0]?.n ?? 0));
      } catch (error) {
        options.onError?.(error);
      }
    },
  };
}

/** Waits for `promise`, at most `ms`. */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
