import type { TestSchema } from '@massivesms/testkit';
import { createTestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, DbTx } from '../src/index.ts';
import { createPgDb, DbConfigError } from '../src/index.ts';
import { statementName } from '../src/prepared.ts';

/** The named statements the session behind `q` holds (pg_prepared_statements is per session). */
async function preparedNames(q: DbTx): Promise<string[]> {
  // Without parameters: runs unnamed, so it does not list itself.
  const { rows } = await q.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  return rows.map((r) => r.name);
}

const backendPid = async (q: DbTx) =>
  (await q.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

describe('createPgDb named prepared statements (real PostgreSQL)', () => {
  let s: TestSchema;
  /** Another session: schema changes, terminating backends. */
  let admin: Db;
  const opened: Db[] = [];
  /** One connection, so every call lands on the session whose statements the test looks at. */
  const open = (options: Omit<Parameters<typeof createPgDb>[0], 'url' | 'schema'> = {}) => {
    const db = createPgDb({ url: s.url, schema: s.schema, max: 1, ...options });
    opened.push(db);
    return db;
  };

  beforeAll(async () => {
    s = await createTestSchema('db-prepared');
    admin = createPgDb({ url: s.url, schema: s.schema, max: 2 });
    await admin.query('CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)');
    await admin.query("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 20) AS i");
  });

  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    await admin?.close();
    await s?.drop();
  });

  const byId = 'SELECT id, label FROM items WHERE id = $1';

  it('runs a statement with parameters as a prepared statement named after its text, once per session', async () => {
    const db = open();
    await db.transaction(async (tx) => {
      for (const id of [1, 2, 3]) {
        expect((await tx.query(byId, [id])).rows).toEqual([{ id, label: `item ${id}` }]);
      }
      expect(await preparedNames(tx)).toEqual([statementName(byId)]);
    });
    // The same session outside a transaction uses it as well.
    expect((await db.query(byId, [4])).rows).toEqual([{ id: 4, label: 'item 4' }]);
    await db.transaction(async (tx) => expect(await preparedNames(tx)).toEqual([statementName(byId)]));
  });

  it('names nothing when turned off, and refuses a bad bound', async () => {
    const db = open({ preparedStatements: 0 });
    await db.query(byId, [1]);
    await db.transaction(async (tx) => {
      await tx.query(byId, [2]);
      expect(await preparedNames(tx)).toEqual([]);
    });
    expect(() => createPgDb({ url: s.url, preparedStatements: -1 })).toThrow(DbConfigError);
    expect(() => createPgDb({ url: s.url, preparedStatements: 1.5 })).toThrow(DbConfigError);
  });

  it('keeps at most the bound per session, closing the least recently used', async () => {
    const db = open({ preparedStatements: 3 });
    // Texts built per call: each is a new statement.
    const text = (i: number) => `SELECT label FROM items WHERE id = $1 AND ${i} = ${i}`;
    for (let i = 1; i <= 10; i++)
      expect((await db.query(text(i), [i])).rows).toEqual([{ label: `item ${i}` }]);
    await db.query(text(8), [8]); // 8 is now the most recently used
    await db.query(text(11), [11]); // evicts 9
    await db.transaction(async (tx) =>
      expect(await preparedNames(tx)).toEqual([text(8), text(10), text(11)].map(statementName).sort()),
    );
    // An evicted statement prepares again.
    expect((await db.query(text(1), [1])).rows).toEqual([{ label: 'item 1' }]);
    await db.transaction(async (tx) => {
      expect(await tx.query(text(9), [9])).toEqual({ rows: [{ label: 'item 9' }], rowCount: 1 });
      expect(await preparedNames(tx)).toEqual([text(1), text(9), text(11)].map(statementName).sort());
    });
  });

  it('closes an evicted statement even inside an aborted transaction', async () => {
    const db = open({ preparedStatements: 1 });
    await db.query(byId, [1]);
    const other = 'SELECT label FROM items WHERE id = $1 ORDER BY id';
    await expect(
      db.transaction(async (tx) => {
        await tx.query('SELECT 1 / 0').catch(() => {}); // the transaction is aborted
        await tx.query(other, [1]); // evicts byId (its Close is honoured), its own Parse is refused
      }),
    ).rejects.toMatchObject({ code: '25P02' });
    await db.transaction(async (tx) => expect(await preparedNames(tx)).toEqual([]));
    expect((await db.query(other, [2])).rows).toEqual([{ label: 'item 2' }]);
    await db.transaction(async (tx) => expect(await preparedNames(tx)).toEqual([statementName(other)]));
  });

  it('prepares again when a migration changes the result columns of a cached plan (0A000)', async () => {
    await admin.query('CREATE TABLE widened (id integer PRIMARY KEY)');
    await admin.query('INSERT INTO widened VALUES (1)');
    const db = open();
    const all = 'SELECT * FROM widened WHERE id = $1';
    await db.query(all, [1]);
    await db.transaction(async (tx) => void (await tx.query(all, [1])));
    await admin.query('ALTER TABLE widened ADD COLUMN note text');
    // A statement alone is retried at once.
    expect((await db.query(all, [1])).rows).toEqual([{ id: 1, note: null }]);

    await db.transaction(async (tx) => void (await tx.query(all, [1])));
    await admin.query('ALTER TABLE widened ADD COLUMN extra integer');
    // Inside a transaction the error aborts it (it cannot be retried there) ...
    await expect(db.transaction((tx) => tx.query(all, [1]))).rejects.toMatchObject({ code: '0A000' });
    // ... and the session forgot the statement: the next transaction prepares it again.
    const again = await db.transaction((tx) => tx.query(all, [1]));
    expect(again.rows).toEqual([{ id: 1, note: null, extra: null }]);
  });

  it('prepares again when the session lost its statements (DEALLOCATE ALL, 26000)', async () => {
    const db = open();
    await db.query(byId, [1]);
    await db.query('DEALLOCATE ALL');
    expect((await db.query(byId, [2])).rows).toEqual([{ id: 2, label: 'item 2' }]);

    await db.transaction(async (tx) => void (await tx.query(byId, [1])));
    await db.query('DEALLOCATE ALL');
    await expect(db.transaction((tx) => tx.query(byId, [3]))).rejects.toMatchObject({ code: '26000' });
    expect((await db.transaction((tx) => tx.query(byId, [3]))).rows).toEqual([{ id: 3, label: 'item 3' }]);
  });

  it('keeps the session usable after a value that cannot be sent', async () => {
    const db = open();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const withJson = 'SELECT id FROM items WHERE id = $1 AND $2::jsonb IS NOT NULL';
    // Prepared and used, then a bind that fails in the client (node-postgres closes the statement).
    await db.transaction(async (tx) => void (await tx.query(withJson, [1, { ok: true }])));
    const pid = await db.transaction(backendPid);
    await expect(db.transaction((tx) => tx.query(withJson, [1, circular]))).rejects.toThrow(/circular/i);
    const after = await db.transaction(async (tx) => ({
      rows: (await tx.query(withJson, [5, { ok: true }])).rows,
      pid: await backendPid(tx),
    }));
    expect(after).toEqual({ rows: [{ id: 5 }], pid }); // same session, statement prepared again
    // The same when the failing call is the statement's first on the session.
    const fresh = 'SELECT id FROM items WHERE id = $1 AND $2::jsonb IS NULL';
    await expect(db.transaction((tx) => tx.query(fresh, [1, circular]))).rejects.toThrow(/circular/i);
    expect((await db.transaction((tx) => tx.query(fresh, [6, null]))).rows).toEqual([{ id: 6 }]);
  });

  it('plans each statement once per session under planCacheMode force_generic_plan', async () => {
    // A batch over arrays: under the default mode it is planned afresh on every run.
    const batch = `SELECT u.id, i.label FROM unnest($1::int[]) AS u(id) LEFT JOIN items i ON i.id = u.id`;
    const plans = async (db: Db) =>
      db.transaction(async (tx) => {
        for (const id of [1, 2, 3, 4, 5, 6, 7]) await tx.query(batch, [[id]]);
        const { rows } = await tx.query<{ generic: string; custom: string; mode: string }>(
          `SELECT generic_plans AS generic, custom_plans AS custom, current_setting('plan_cache_mode') AS mode
             FROM pg_prepared_statements`,
        );
        return rows;
      });
    expect(await plans(open())).toEqual([{ generic: '0', custom: '7', mode: 'auto' }]);
    expect(await plans(open({ planCacheMode: 'force_generic_plan' }))).toEqual([
      { generic: '7', custom: '0', mode: 'force_generic_plan' },
    ]);
    // Without a schema too (the setting travels in the same startup options).
    const noSchema = createPgDb({ url: s.url, max: 1, planCacheMode: 'force_custom_plan' });
    opened.push(noSchema);
    expect((await noSchema.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode')).rows).toEqual([
      { plan_cache_mode: 'force_custom_plan' },
    ]);
    expect(() => createPgDb({ url: s.url, planCacheMode: 'generic' as unknown as 'auto' })).toThrow(
      DbConfigError,
    );
    expect(() =>
      createPgDb({ url: `${s.url}?options=-c%20work_mem%3D8MB`, planCacheMode: 'force_generic_plan' }),
    ).toThrow(DbConfigError);
  });

  it('recovers when the session is terminated in the middle of a transaction', async () => {
    const db = open({ onError: () => {} });
    await db.query(byId, [1]);
    const failed = db.transaction(async (tx) => {
      await tx.query(byId, [1]);
      await admin.query('SELECT pg_terminate_backend($1)', [await backendPid(tx)]);
      await tx.query(byId, [2]);
    });
    await expect(failed).rejects.toMatchObject({ code: '57P01' });
    // A fresh session: the statement is prepared on it from scratch.
    expect((await db.query(byId, [7])).rows).toEqual([{ id: 7, label: 'item 7' }]);
    expect((await db.transaction((tx) => tx.query(byId, [8]))).rows).toEqual([{ id: 8, label: 'item 8' }]);
  });
});
