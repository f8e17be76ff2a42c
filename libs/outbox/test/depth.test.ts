import { createPgDb, type Db } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { createTestSchema, eventually, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxRelay, writeOutbox } from '../src/index.ts';

let schema: TestSchema;
let db: Db;

beforeAll(async () => {
  schema = await createTestSchema('outbox_depth');
  db = createPgDb({ url: schema.url, schema: schema.schema, max: 4 });
});
afterAll(async () => {
  await db.close();
  await schema.drop();
});

/** An outbox table of `rows` rows of 100 records each (as statements write them: one row each). */
async function table(name: string, rows: number): Promise<void> {
  await db.query(`CREATE TABLE ${name} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, records bytea NOT NULL, count int NOT NULL CHECK (count > 0))`);
  for (let r = 0; r < rows; r++)
    await writeOutbox(
      db,
      name,
      Array.from({ length: 100 }, (_, i) => ({ topic: 't', key: `k${r}-${i}`, value: 'v' })),
    );
}

describe('outbox relay onDepth', () => {
  it('reports the backlog counted once while it lasts, then 0 once caught up', async () => {
    await table('depth_outbox', 12); // 1,200 records
    const sent: OutgoingRecord[] = [];
    const depths: number[] = [];
    const relay = startOutboxRelay({
      db,
      table: 'depth_outbox',
      batchSize: 500,
      producer: { send: async (records) => void sent.push(...records) },
      onDepth: (rows) => depths.push(rows),
    });
    try {
      await eventually(10_000, () => expect(sent).toHaveLength(1200));
      await eventually(5_000, () => expect(depths.at(-1)).toBe(0));
      // First full pass (5 rows, 500 records): 700 records left (counted); the second full pass is
      // within 5 s of that count (not counted again); the third is short: caught up.
      expect(depths.slice(0, 2)).toEqual([700, 0]);
    } finally {
      await relay.stop();
    }
  });

  it('costs nothing when no hook is set (no extra statement)', async () => {
    await table('quiet_outbox', 6); // 600 records
    const statements: string[] = [];
    const spy: Db = {
      query: (sql, params) => {
        statements.push(sql);
        return db.query(sql, params);
      },
      transaction: (fn) => db.transaction(fn),
      close: () => db.close(),
    } as Db;
    let sent = 0;
    const relay = startOutboxRelay({
      db: spy,
      table: 'quiet_outbox',
      batchSize: 500,
      producer: {
        send: async (records) => {
          sent += records.length;
        },
      },
    });
    try {
      await eventually(10_000, () => expect(sent).toBe(600));
      expect(statements.filter((s) => s.includes('waiting'))).toEqual([]);
    } finally {
      await relay.stop();
    }
  });
});
