import { randomBytes } from 'node:crypto';
import type { TestSchema } from '@massivesms/testkit';
import { createTestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/index.ts';
import { createPgDb, DbConfigError, quoteIdent } from '../src/index.ts';
import { describeDbPortSuite } from './db-port-suite.ts';
import { postgresAdapter, tableExists } from './harness.ts';

describeDbPortSuite(postgresAdapter);

describe('createPgDb', () => {
  let a: TestSchema;
  let b: TestSchema;
  let dbA: Db;
  let dbB: Db;
  let admin: Db;

  beforeAll(async () => {
    a = await createTestSchema('db-iso-a');
    b = await createTestSchema('db-iso-b');
    dbA = createPgDb({ url: a.url, schema: a.schema });
    dbB = createPgDb({ url: b.url, schema: b.schema });
    admin = createPgDb({ url: a.url, max: 2 });
  });

  afterAll(async () => {
    await Promise.all([dbA?.close(), dbB?.close(), admin?.close()]);
    await Promise.all([a?.drop(), b?.drop()]);
  });

  it('isolates schemas: a table created through schema A is invisible from schema B', async () => {
    await dbA.query('CREATE TABLE isolated (id integer)');
    await dbA.transaction(async (tx) => {
      await tx.query('INSERT INTO isolated VALUES (1)');
    });

    expect(await tableExists(dbA, 'isolated')).toBe(true);
    expect(await tableExists(dbB, 'isolated')).toBe(false);
    await expect(dbB.query('SELECT * FROM isolated')).rejects.toMatchObject({ code: '42P01' });
    // Every pooled connection (not just the first) carries the search_path: check several at once.
    const schemas = await Promise.all(
      Array.from({ length: 6 }, () =>
        dbA.transaction(async (tx) => {
          const res = await tx.query<{ s: string }>('SELECT current_schema() AS s, pg_sleep(0.05)');
          return res.rows[0]?.s;
        }),
      ),
    );
    expect(new Set(schemas)).toEqual(new Set([a.schema]));
    const row = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${quoteIdent(a.schema)}.isolated`,
    );
    expect(row.rows).toEqual([{ n: '1' }]);
  });

  it('quotes the schema safely (spaces, quotes, backslashes, commas)', async () => {
    const weird = `w ${randomBytes(3).toString('hex')} "q" \\b, public`;
    await admin.query(`CREATE SCHEMA ${quoteIdent(weird)}`);
    const db = createPgDb({ url: a.url, schema: weird });
    try {
      const res = await db.query<{ s: string; path: string }>(
        'SELECT current_schema() AS s, current_setting($1) AS path',
        ['search_path'],
      );
      expect(res.rows[0]?.s).toBe(weird);
      await db.query('CREATE TABLE in_weird (id integer)');
      const where = await admin.query<{ table_schema: string }>(
        'SELECT table_schema FROM information_schema.tables WHERE table_name = $1',
        ['in_weird'],
      );
      expect(where.rows).toEqual([{ table_schema: weird }]);
    } finally {
      await db.close();
      await admin.query(`DROP SCHEMA ${quoteIdent(weird)} CASCADE`);
    }
  });

  it('survives an idle connection being killed by the server and reports it to onError', async () => {
    const appName = `massivesms-db-kill-${randomBytes(4).toString('hex')}`;
    const errors: Error[] = [];
    const db = createPgDb({
      url: a.url,
      schema: a.schema,
      applicationName: appName,
      onError: (e) => errors.push(e),
    });
    try {
      await db.query('SELECT 1');
      const killed = await admin.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [appName],
      );
      expect(killed.rows).toEqual([{ ok: true }]);
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
      // The pool dropped the dead connection and opens a fresh one.
      const res = await db.query<{ one: number }>('SELECT 1 AS one');
      expect(res.rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('closes idempotently', async () => {
    const db = createPgDb({ url: a.url });
    await db.query('SELECT 1');
    await Promise.all([db.close(), db.close()]);
    await db.close();
  });

  it('rejects invalid options at creation', () => {
    expect(() => createPgDb({ url: '' })).toThrow(DbConfigError);
    expect(() => createPgDb({ url: a.url, max: 0 })).toThrow(DbConfigError);
    expect(() => createPgDb({ url: a.url, schema: 'x'.repeat(64) })).toThrow(/63-byte/);
    expect(() => createPgDb({ url: `${a.url}?options=-c%20work_mem%3D8MB`, schema: a.schema })).toThrow(
      expect.objectContaining({ code: 'DB_CONFIG_INVALID' }),
    );
  });
});
