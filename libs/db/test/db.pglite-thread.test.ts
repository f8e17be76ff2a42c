import { describe, expect, it } from 'vitest';
import { createPgliteThreadDb, DbConfigError, DbWorkerExitedError, migrate } from '../src/index.ts';
import { describeDbPortSuite } from './db-port-suite.ts';
import { fixture, pgliteThreadAdapter } from './harness.ts';

// The migration runner uses only the Db port, so the port suite covers it here (each fresh PGlite is
// a ~4 s initdb; createPgliteDb's test runs the migration suite on clones).
describeDbPortSuite(pgliteThreadAdapter);

describe('createPgliteThreadDb', () => {
  it("keeps the owner's event loop free while a statement runs", async () => {
    const db = await createPgliteThreadDb();
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const started = performance.now();
      await db.query('SELECT count(*) FROM generate_series(1, $1::int)', [4_000_000]);
      const elapsed = performance.now() - started;
      clearInterval(timer);
      // In-process PGlite blocks this thread for the whole statement: not one tick. Here the timer
      // keeps firing (at least a third of the ticks it could have, however busy the machine).
      expect(elapsed).toBeGreaterThan(100);
      expect(ticks).toBeGreaterThan(elapsed / 10 / 3);
    } finally {
      await db.close();
    }
  });

  it("gives back PostgreSQL's error fields, Buffers and int8 strings as the in-process adapter does", async () => {
    const db = await createPgliteThreadDb({ schema: 'cell eu' });
    try {
      await migrate(db, { service: 'widgets', dir: fixture('basic') });
      await db.query('CREATE TABLE blobs (id int PRIMARY KEY, data bytea NOT NULL, parts bytea[] NOT NULL)');
      const data = Buffer.from([0, 1, 2, 255]);
      await db.query('INSERT INTO blobs VALUES (1, $1, $2)', [data, [data, Buffer.from('x')]]);
      const res = await db.query<{ data: Buffer; parts: Buffer[]; n: string }>(
        'SELECT data, parts, count(*) OVER () AS n FROM blobs',
      );
      expect(Buffer.isBuffer(res.rows[0]!.data)).toBe(true);
      expect(res.rows[0]!.data.equals(data)).toBe(true);
      expect(res.rows[0]!.parts.map((p) => Buffer.isBuffer(p) && p.toString('hex'))).toEqual([
        '000102ff',
        '78',
      ]);
      expect(res.rows[0]!.n).toBe('1');
      const duplicate = await db
        .query('INSERT INTO blobs VALUES (1, $1, $2)', [data, [data]])
        .catch((e: unknown) => e);
      expect(duplicate).toMatchObject({ code: '23505', constraint: 'blobs_pkey' });
    } finally {
      await db.close();
    }
  });

  it('refuses a bad schema name before starting a thread, and answers after close with a clear error', async () => {
    await expect(createPgliteThreadDb({ schema: '' })).rejects.toBeInstanceOf(DbConfigError);
    const db = await createPgliteThreadDb();
    await db.close();
    await db.close();
    await expect(db.query('SELECT 1')).rejects.toBeInstanceOf(DbWorkerExitedError);
  });
});
