import { createPgDb, type Db, type DbTx } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import type { BusProducer, IncomingRecord, OutgoingRecord, ReaderHandle } from '@massivesms/messaging';
import {
  createTestSchema,
  createTestTopics,
  eventually,
  type TestSchema,
  testKafkaLog,
} from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeRecords,
  encodeRecords,
  OutboxFrameError,
  type OutboxRelay,
  outboxInsert,
  outboxParams,
  startOutboxRelay,
  writeOutbox,
} from '../src/index.ts';

const TABLE = 'test_outbox';
const topics = createTestTopics();
let schema: TestSchema;
let db: Db;
let bus: KafkaBus;
let n = 0;

beforeAll(async () => {
  schema = await createTestSchema('outbox');
  db = createPgDb({ url: schema.url, schema: schema.schema, max: 6 });
  bus = new KafkaBus({ brokers: topics.brokers, clientId: 'outbox-test', log: testKafkaLog });
});

afterAll(async () => {
  await bus.close();
  await db.close();
  await schema.drop();
  await topics.cleanup();
});

/** A fresh outbox table and topic per test. */
async function fresh(partitions = 1): Promise<{ table: string; topic: string }> {
  const table = `${TABLE}_${++n}`;
  await db.query(`CREATE TABLE ${table} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, records bytea NOT NULL, count int NOT NULL CHECK (count > 0))`);
  return { table, topic: await topics.createTopic(`outbox-${n}`, partitions) };
}

/** Everything on the topic, read from its start. */
async function read(topic: string): Promise<{ records: IncomingRecord[]; stop: () => Promise<void> }> {
  const records: IncomingRecord[] = [];
  const reader: ReaderHandle = await bus.readFromStart({
    topics: [topic],
    onRecords: (batch) => {
      records.push(...batch);
    },
  });
  return { records, stop: () => reader.stop() };
}

const record = (topic: string, key: string, value: string): OutgoingRecord => ({
  topic,
  key,
  value,
  headers: { schema: 'test.v1' },
});

/** Records not published yet. */
async function unpublished(table: string): Promise<number> {
  const { rows } = await db.query<{ n: string | null }>(`SELECT sum(count) AS n FROM ${table}`);
  return Number(rows[0]!.n ?? 0);
}

/** The rows of an outbox table, oldest first, with their records decoded. */
async function stored(table: string): Promise<{ count: number; records: OutgoingRecord[] }[]> {
  const { rows } = await db.query<{ records: Buffer; count: number }>(
    `SELECT records, count FROM ${table} ORDER BY id`,
  );
  return rows.map((r) => ({ count: r.count, records: decodeRecords(r.records) }));
}

/** A record as the relay gives it back: values as bytes, headers only when it had some. */
const normalised = (r: OutgoingRecord): OutgoingRecord => ({
  topic: r.topic,
  key: r.key,
  value: r.value === null ? null : Buffer.from(r.value),
  ...(r.headers ? { headers: r.headers } : {}),
});

describe('outbox frames', () => {
  it('round-trip records, keeping null and empty keys and values, string values and headers', () => {
    const records: OutgoingRecord[] = [
      { topic: 't', key: null, value: null },
      { topic: 't', key: '', value: Buffer.alloc(0) },
      { topic: 'tópico', key: 'clé', value: 'ünïcode text', headers: { schema: 'x.v1', ç: 'é✓' } },
      { topic: 't', key: 'k', value: Buffer.from([0, 1, 2, 255]), headers: {} },
      { topic: 't', key: 'k', value: Buffer.alloc(70_000, 7), headers: { a: '', b: 'x'.repeat(300) } },
    ];
    expect(decodeRecords(encodeRecords(records))).toEqual(records.map(normalised));
    expect(decodeRecords(encodeRecords([]))).toEqual([]);
  });

  it('concatenated, are the records of both in order', () => {
    const a = [record('t', 'k', 'a1'), record('t', 'k', 'a2')];
    const b = [{ topic: 'u', key: null, value: 'b1' }];
    expect(decodeRecords(Buffer.concat([encodeRecords(a), encodeRecords(b)]))).toEqual(
      [...a, ...b].map(normalised),
    );
  });

  it('refuses bytes that are not frames rather than publishing garbage', () => {
    const frames = encodeRecords([record('t', 'k', 'v')]);
    expect(() => decodeRecords(frames.subarray(0, frames.length - 1))).toThrow(OutboxFrameError);
    expect(() => decodeRecords(Buffer.from([9, 0, 0, 0, 0]))).toThrow(OutboxFrameError);
    expect(() => decodeRecords(Buffer.from([1, 0, 0, 0, 5, 65]))).toThrow(OutboxFrameError);
  });
});

describe('transactional outbox', () => {
  it('publishes what committed, in the order it was written, and never what rolled back', async () => {
    const { table, topic } = await fresh();
    const relay = startOutboxRelay({ db, table, producer: bus.producer(), idleMs: 50 });
    try {
      await db.transaction(async (tx) => {
        await writeOutbox(tx, table, [record(topic, 'k', 'a1'), record(topic, 'k', 'a2')]);
      });
      await db
        .transaction(async (tx) => {
          await writeOutbox(tx, table, [record(topic, 'k', 'rolled-back')]);
          throw new Error('the state change failed');
        })
        .catch(() => {});
      await writeOutbox(db, table, [record(topic, 'k', 'a3')]);
      relay.wake();
      await relay.flushed();
      const seen = await read(topic);
      await eventually(10_000, () =>
        expect(seen.records.map((r) => r.value?.toString())).toEqual(['a1', 'a2', 'a3']),
      );
      expect(seen.records[0]!.headers.schema).toBe('test.v1');
      expect(seen.records[0]!.key).toBe('k');
      await seen.stop();
      expect(await unpublished(table)).toBe(0);
    } finally {
      await relay.stop();
    }
  });

  it('writes a chunk of records in one statement and one row, in order, keeping null keys, values and headers', async () => {
    const { table, topic } = await fresh();
    const records: OutgoingRecord[] = Array.from({ length: 250 }, (_, i) => ({
      topic,
      key: i % 5 === 0 ? null : `k${i % 7}`,
      value: i % 11 === 0 ? null : Buffer.from(`v${i}`),
      ...(i % 3 === 0 ? {} : { headers: { schema: 'test.v1', n: String(i) } }),
    }));
    const statements: string[] = [];
    await db.transaction(async (tx) => {
      const counting: DbTx = {
        query: (sql, params) => {
          statements.push(sql);
          return tx.query(sql, params);
        },
      };
      await writeOutbox(counting, table, records);
    });
    expect(statements).toHaveLength(1);
    expect(await stored(table)).toEqual([{ count: 250, records: records.map(normalised) }]);
  });

  it('writes in one row only the records of the items a statement keeps', async () => {
    const { table } = await fresh();
    const items: OutgoingRecord[][] = [
      [record('t', 'a', 'a1'), record('t', 'a', 'a2')],
      [],
      [record('t', 'c', 'c1')],
      [{ topic: 't', key: null, value: null }],
      [record('t', 'e', 'e1'), record('t', 'e', 'e2')],
    ];
    // The changed rows of a data-modifying statement, as callers filter on them.
    const write = (kept: number[]) =>
      db.query(
        `WITH updated AS (SELECT ord FROM unnest($1::int[]) AS k(ord))
         ${outboxInsert(table, 2, 'e.item IN (SELECT ord FROM updated)')}`,
        [kept, ...outboxParams(items)],
      );
    await write([1, 2, 4]);
    await write([2]); // an item without records only: no row
    await write([]);
    await write([5, 3]);
    expect(await stored(table)).toEqual([
      { count: 3, records: [...items[0]!, ...items[3]!].map(normalised) },
      { count: 3, records: [...items[2]!, ...items[4]!].map(normalised) },
    ]);
    // A condition on the statement as a whole (`EXISTS (SELECT 1 FROM moved)`), and no items at all.
    await db.query(
      `WITH moved AS (SELECT 1 WHERE false) ${outboxInsert(table, 1, 'EXISTS (SELECT 1 FROM moved)')}`,
      outboxParams(items),
    );
    await db.query(outboxInsert(table, 1), outboxParams([]));
    expect(await stored(table)).toHaveLength(2);
  });

  it('publishes rows whole, adding rows to a pass until it holds a batch of records', async () => {
    const { table, topic } = await fresh();
    for (let i = 0; i < 5; i++)
      await writeOutbox(
        db,
        table,
        [0, 1, 2].map((j) => record(topic, 'k', `f${i}-${j}`)),
      );
    const passes: number[] = [];
    const relay = startOutboxRelay({
      db,
      table,
      producer: bus.producer(),
      batchSize: 5,
      idleMs: 50,
      onPublished: (n) => passes.push(n),
    });
    try {
      await eventually(10_000, async () => expect(await unpublished(table)).toBe(0));
      // 3 + 3 reaches 5: the next pass starts at the third row.
      expect(passes).toEqual([6, 6, 3]);
      const seen = await read(topic);
      await eventually(10_000, () => expect(seen.records).toHaveLength(15));
      expect(seen.records.map((r) => r.value?.toString())).toEqual(
        [0, 1, 2, 3, 4].flatMap((i) => [0, 1, 2].map((j) => `f${i}-${j}`)),
      );
      await seen.stop();
    } finally {
      await relay.stop();
    }
  });

  it('sends a row holding more than a batch in requests of at most a batch, in order', async () => {
    const { table, topic } = await fresh();
    const values = Array.from({ length: 12 }, (_, i) => `g${i}`);
    await writeOutbox(
      db,
      table,
      values.map((v) => record(topic, 'k', v)),
    );
    const real = bus.producer();
    const requests: string[][] = [];
    const relay = startOutboxRelay({
      db,
      table,
      batchSize: 5,
      idleMs: 50,
      producer: {
        async send(records) {
          requests.push(records.map((r) => String(r.value)));
          await real.send(records);
        },
      },
    });
    try {
      await eventually(10_000, async () => expect(await unpublished(table)).toBe(0));
      expect(requests).toEqual([values.slice(0, 5), values.slice(5, 10), values.slice(10)]);
    } finally {
      await relay.stop();
    }
  });

  it('keeps the rows while the broker refuses them and publishes them once it accepts', async () => {
    const { table, topic } = await fresh();
    const real = bus.producer();
    let refusals = 3;
    const errors: unknown[] = [];
    const flaky: BusProducer = {
      async send(records) {
        if (refusals > 0) {
          refusals--;
          throw new Error('broker unavailable');
        }
        await real.send(records);
      },
    };
    await writeOutbox(db, table, [record(topic, 'k', 'b1'), record(topic, 'k', 'b2')]);
    const relay = startOutboxRelay({
      db,
      table,
      producer: flaky,
      idleMs: 50,
      retryBackoffMs: { initial: 10, max: 40 },
      onError: (e) => errors.push(e),
    });
    try {
      await eventually(10_000, async () => expect(await unpublished(table)).toBe(0));
      expect(errors).toHaveLength(3);
      const seen = await read(topic);
      await eventually(10_000, () =>
        expect(seen.records.map((r) => r.value?.toString())).toEqual(['b1', 'b2']),
      );
      await seen.stop();
    } finally {
      await relay.stop();
    }
  });

  it('lets several relays share one table: every record once, in table order', async () => {
    const { table, topic } = await fresh();
    const relays: OutboxRelay[] = [1, 2, 3].map(() =>
      startOutboxRelay({ db, table, producer: bus.producer(), batchSize: 7, idleMs: 20 }),
    );
    try {
      const values = Array.from({ length: 120 }, (_, i) => `c${i}`);
      // Written in many small transactions while the relays run.
      for (let i = 0; i < values.length; i += 10)
        await writeOutbox(
          db,
          table,
          values.slice(i, i + 10).map((v) => record(topic, 'k', v)),
        );
      await eventually(20_000, async () => expect(await unpublished(table)).toBe(0));
      const seen = await read(topic);
      await eventually(10_000, () => expect(seen.records.map((r) => r.value?.toString())).toEqual(values));
      await seen.stop();
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  });

  it('vacuums its table as it goes, so dead rows do not pile up', async () => {
    const { table, topic } = await fresh();
    const relay = startOutboxRelay({ db, table, producer: bus.producer(), vacuumAfterRows: 50, idleMs: 20 });
    try {
      for (let round = 0; round < 3; round++) {
        // One row per statement: 40 rows a round.
        for (let i = 0; i < 40; i++)
          await writeOutbox(db, table, [record(topic, `k${i % 3}`, `${round}-${i}`)]);
        relay.wake();
        await relay.flushed();
      }
      // 120 rows published, a vacuum every 50: at least one ran (statistics arrive asynchronously).
      await eventually(5_000, async () => {
        const { rows } = await db.query<{ vacuums: string }>(
          `SELECT vacuum_count AS vacuums FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1`,
          [table],
        );
        expect(Number(rows[0]?.vacuums ?? 0)).toBeGreaterThanOrEqual(1);
      });
    } finally {
      await relay.stop();
    }
  });

  it('stops at once while it is backing off from a broker that refuses everything', async () => {
    const { table, topic } = await fresh();
    await writeOutbox(db, table, [record(topic, 'k', 'd1')]);
    const relay = startOutboxRelay({
      db,
      table,
      producer: { send: () => Promise.reject(new Error('broker unavailable')) },
      retryBackoffMs: { initial: 60_000, max: 60_000 },
    });
    await new Promise((r) => setTimeout(r, 200)); // the first pass failed: the relay sleeps for 60 s
    const started = performance.now();
    await relay.stop();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await unpublished(table)).toBe(1); // kept for the next start
  });

  it('stops within its bound while a produce hangs on a broker that never answers', async () => {
    const { table, topic } = await fresh();
    await writeOutbox(db, table, [record(topic, 'k', 'e1')]);
    let sending = false;
    const hanging = Promise.withResolvers<void>();
    const relay = startOutboxRelay({
      db,
      table,
      producer: {
        send: () => {
          sending = true;
          return hanging.promise; // settles only when the bus is closed, below
        },
      },
    });
    await eventually(5_000, () => expect(sending).toBe(true));
    const started = performance.now();
    await relay.stop({ drainMs: 200 });
    expect(performance.now() - started).toBeLessThan(2_000);
    // Closing the bus fails the stuck send: its transaction rolls back and the row stays.
    hanging.reject(new Error('the bus was closed'));
    await eventually(5_000, async () => expect(await unpublished(table)).toBe(1));
  });
});
