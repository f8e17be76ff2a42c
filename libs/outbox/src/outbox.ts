import { type Db, type DbTx, quoteIdent } from '@massivesms/db';
import type { BusProducer, OutgoingRecord } from '@massivesms/messaging';

/**
 * The transactional outbox (DESIGN.md §5.0). A service writes the events that announce a state
 * change into its own outbox table in the same statement or transaction as the change; the relay
 * publishes them to Kafka in batches, oldest first, and deletes them in the transaction that is
 * committed only after the broker acknowledged. A failure anywhere leaves the rows to be published
 * again (at least once; event ids are deterministic, so consumers drop the copy).
 *
 * Each service creates its table in a migration of its own, with exactly these columns:
 *
 * ```sql
 * CREATE TABLE <service>_outbox (
 *   id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
 *   topic text NOT NULL, key text, value bytea, headers jsonb);
 * ```
 */

/** Column arrays of outbox rows, for an `INSERT … SELECT … FROM unnest(…)` inside a larger statement. */
export interface OutboxColumns {
  /** Which item of a multi-row statement each record belongs to (its ordinal, from 1). */
  readonly items: number[];
  readonly topics: string[];
  readonly keys: (string | null)[];
  readonly values: (Buffer | null)[];
  /** JSON text of the headers, or null. */
  readonly headers: (string | null)[];
}

/** Flattens per-item records into column arrays (records keep their order within and across items). */
export function outboxColumns(perItem: readonly (readonly OutgoingRecord[])[]): OutboxColumns {
  const columns: OutboxColumns = { items: [], topics: [], keys: [], values: [], headers: [] };
  perItem.forEach((records, index) => {
    for (const r of records) {
      columns.items.push(index + 1);
      columns.topics.push(r.topic);
      columns.keys.push(r.key);
      columns.values.push(
        r.value === null ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value),
      );
      columns.headers.push(r.headers ? JSON.stringify(r.headers) : null);
    }
  });
  return columns;
}

/**
 * The `SELECT` that turns column arrays bound at `$first…$first+4` into outbox rows, in order, for
 * `INSERT INTO <table> (topic, key, value, headers) <this> `. `filter` may restrict the items, e.g.
 * `e.item IN (SELECT ord FROM updated)`, so only the events of rows that really changed are written.
 */
export function outboxSelect(first: number, filter = 'true'): string {
  const p = (i: number) => `$${first + i}`;
  return `SELECT e.topic, e.key, e.value, e.headers
            FROM unnest(${p(0)}::int[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::bytea[], ${p(4)}::jsonb[])
                 WITH ORDINALITY AS e(item, topic, key, value, headers, seq)
           WHERE ${filter}
           ORDER BY e.seq`;
}

/** The parameters matching `outboxSelect`. */
export function outboxParams(columns: OutboxColumns): unknown[] {
  return [columns.items, columns.topics, columns.keys, columns.values, columns.headers];
}

/** Writes records to the outbox within `tx` (or as a statement of its own) in one multi-row INSERT. */
export async function writeOutbox(
  tx: DbTx,
  table: string,
  records: readonly OutgoingRecord[],
): Promise<void> {
  if (records.length === 0) return;
  await tx.query(
    `INSERT INTO ${quoteIdent(table)} (topic, key, value, headers) ${outboxSelect(1)}`,
    outboxParams(outboxColumns([records])),
  );
}

export interface OutboxRelayOptions {
  readonly db: Db;
  readonly table: string;
  readonly producer: BusProducer;
  /** Records published per Kafka request (default 500). */
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
  readonly onPublished?: (count: number) => void;
  /**
   * Rows waiting, after a pass of this relay: 0 when it caught up; during a backlog a count capped
   * at 100,000, taken at most every 5 s (the only extra query, made only when this is set).
   */
  readonly onDepth?: (rows: number) => void;
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

  /** One pass: publishes up to a batch; -1 when another relay holds the table. */
  async function pass(): Promise<number> {
    return options.db.transaction(async (tx) => {
      const { rows: lock } = await tx.query<{ held: boolean }>(
        `SELECT pg_try_advisory_xact_lock(hashtext('massivesms.outbox'), hashtext(current_schema() || '.' || $1)) AS held`,
        [options.table],
      );
      if (!lock[0]?.held) return -1;
      const { rows } = await tx.query<{
        id: string;
        topic: string;
        key: string | null;
        value: Buffer | null;
        headers: Record<string, string> | string | null;
      }>(
        `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} ORDER BY id LIMIT $1)
         RETURNING id, topic, key, value, headers`,
        [batchSize],
      );
      if (rows.length === 0) return 0;
      // RETURNING promises no order: put the records back in the order they were written.
      rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      await options.producer.send(
        rows.map((r) => ({
          topic: r.topic,
          key: r.key,
          value: r.value,
          ...(r.headers
            ? { headers: typeof r.headers === 'string' ? JSON.parse(r.headers) : r.headers }
            : {}),
        })),
      );
      return rows.length;
    });
  }

  const depth = depthReporter(options, table);
  const loop = (async () => {
    let failures = 0;
    while (running) {
      woken = false;
      const index = ++started;
      let published = 0;
      try {
        published = await pass();
        failures = 0;
      } catch (error) {
        failures++;
        options.onError?.(error);
        await sleep(Math.min(backoff.max, backoff.initial * 2 ** (failures - 1)));
        continue;
      }
      if (published >= 0) await depth.report(published < batchSize);
      if (published > 0) {
        options.onPublished?.(published);
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
      if (published === batchSize) continue; // a backlog: next batch at once
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
          `SELECT count(*) AS n FROM (SELECT 1 FROM ${table} LIMIT 100000) waiting`,
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
