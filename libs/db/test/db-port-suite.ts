import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, DbTx } from '../src/index.ts';
import { DbTransactionAbortedError, DbTransactionClosedError } from '../src/index.ts';
import type { Adapter, OpenedDb } from './harness.ts';

/** The Db port's behaviour, identical on every adapter. */
export function describeDbPortSuite(adapter: Adapter): void {
  describe(`Db port (${adapter.name})`, () => {
    let opened: OpenedDb;
    let db: Db;

    beforeAll(async () => {
      opened = await adapter.open();
      db = opened.db;
      await db.query(
        'CREATE TABLE accounts (id integer PRIMARY KEY, owner text NOT NULL, balance integer NOT NULL)',
      );
    });

    afterAll(async () => {
      await opened?.close();
      await adapter.dispose();
    });

    async function countAccounts(where = 'true', params: unknown[] = []): Promise<number> {
      const res = await db.query<{ n: string }>(`SELECT count(*) AS n FROM accounts WHERE ${where}`, params);
      return Number(res.rows[0]?.n);
    }

    it('runs $n-parameterised statements and reports row counts', async () => {
      const ins = await db.query(
        'INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3), ($4, $5, $6)',
        [1, 'alice', 10, 2, 'bob', 20],
      );
      expect(ins).toEqual({ rows: [], rowCount: 2 });

      const sel = await db.query<{ id: number; owner: string }>(
        'SELECT id, owner FROM accounts WHERE balance >= $1 ORDER BY id',
        [10],
      );
      expect(sel).toEqual({
        rows: [
          { id: 1, owner: 'alice' },
          { id: 2, owner: 'bob' },
        ],
        rowCount: 2,
      });

      const upd = await db.query('UPDATE accounts SET balance = balance + 1 WHERE owner = $1', ['alice']);
      expect(upd.rowCount).toBe(1);
      const ddl = await db.query('CREATE TEMP TABLE scratch (x integer)');
      expect(ddl).toEqual({ rows: [], rowCount: 0 });
    });

    it('returns values shaped like node-postgres on both adapters (int8 as string, bytea as Buffer)', async () => {
      const res = await db.query<{ big: unknown; bigs: unknown; bytes: unknown; n: unknown; j: unknown }>(
        "SELECT 9007199254740993::int8 AS big, ARRAY[1, 2]::int8[] AS bigs, '\\x0102'::bytea AS bytes, 1.50::numeric AS n, $1::jsonb AS j",
        [JSON.stringify({ a: 1 })],
      );
      const row = res.rows[0]!;
      expect(row.big).toBe('9007199254740993');
      expect(row.bigs).toEqual(['1', '2']);
      expect(Buffer.isBuffer(row.bytes)).toBe(true);
      expect((row.bytes as Buffer).toString('hex')).toBe('0102');
      expect(row.n).toBe('1.50');
      expect(row.j).toEqual({ a: 1 });
    });

    it('runs several statements in one parameterless call and returns the last result', async () => {
      const res = await db.query<{ n: string }>(
        'CREATE TEMP TABLE multi (x integer); INSERT INTO multi VALUES (1), (2); SELECT count(*) AS n FROM multi',
      );
      expect(res).toEqual({ rows: [{ n: '2' }], rowCount: 1 });
    });

    it('commits a transaction and returns its result', async () => {
      const result = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3)', [10, 'carol', 5]);
        const res = await tx.query<{ owner: string }>('SELECT owner FROM accounts WHERE id = $1', [10]);
        return res.rows[0]?.owner;
      });
      expect(result).toBe('carol');
      expect(await countAccounts('id = $1', [10])).toBe(1);
    });

    it('rolls a transaction back when the callback throws, and rethrows the same error', async () => {
      const boom = new Error('boom');
      await expect(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3)', [20, 'dave', 1]);
          await tx.query('UPDATE accounts SET balance = 0');
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await countAccounts('id = $1', [20])).toBe(0);
      expect(await countAccounts('balance = 0')).toBe(0);
    });

    it('rolls back when a statement fails, and the database error reaches the caller', async () => {
      const err = await db
        .transaction(async (tx) => {
          await tx.query('INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3)', [30, 'erin', 1]);
          await tx.query('INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3)', [30, 'erin', 1]);
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: '23505' });
      expect(await countAccounts('id = $1', [30])).toBe(0);
    });

    it('refuses to report success when a swallowed statement error aborted the transaction', async () => {
      const err = await db
        .transaction(async (tx) => {
          await tx.query('INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3)', [40, 'frank', 1]);
          await tx.query('SELECT no_such_column FROM accounts').catch(() => undefined);
          return 'looks fine';
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DbTransactionAbortedError);
      expect(err).toMatchObject({ code: 'DB_TX_ABORTED' });
      expect(await countAccounts('id = $1', [40])).toBe(0);
    });

    it('rejects use of a transaction handle after the transaction ended', async () => {
      let leaked: DbTx | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      await expect(leaked!.query('SELECT 1')).rejects.toBeInstanceOf(DbTransactionClosedError);
      await expect(leaked!.query('SELECT 1')).rejects.toMatchObject({ code: 'DB_TX_CLOSED' });
    });

    it('keeps working after failed transactions (connections are not left in an aborted state)', async () => {
      for (let i = 0; i < 6; i++) {
        await db.transaction(async (tx) => tx.query('SELECT 1/0')).catch(() => undefined);
      }
      const res = await db.transaction(async (tx) => tx.query<{ one: number }>('SELECT 1 AS one'));
      expect(res.rows).toEqual([{ one: 1 }]);
    });
  });
}
