import type { TestSchema } from '@massivesms/testkit';
import { createTestSchema } from '@massivesms/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Db, DbTx } from '../src/index.ts';
import {
  createPgDb,
  DbConfigError,
  DbConnectTimeoutError,
  DbQueryTimeoutError,
  DbTransactionAbortedError,
  StatementCoalescer,
} from '../src/index.ts';

/** A promise the test resolves when it likes. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const backendPid = async (db: Db) =>
  (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

/** Settles `promise` and reports how it ended and how long that took. */
async function timed(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await promise;
    return { error: undefined, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

describe('createPgDb timeouts (real PostgreSQL)', () => {
  let s: TestSchema;
  /** No client-side limits: the session that holds locks, and looks at pg_stat_activity. */
  let admin: Db;
  const opened: Db[] = [];
  const open = (options: Omit<Parameters<typeof createPgDb>[0], 'url' | 'schema'>) => {
    const db = createPgDb({ url: s.url, schema: s.schema, ...options });
    opened.push(db);
    return db;
  };

  /**
   * Holds an ACCESS EXCLUSIVE lock on `locked` from another session until the returned release is
   * called: any statement touching the table blocks inside the server, which never answers it.
   */
  async function holdLock(): Promise<() => Promise<void>> {
    const locked = gate();
    const release = gate();
    const holder = admin.transaction(async (tx) => {
      await tx.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
      locked.open();
      await release.opened;
    });
    await locked.opened;
    return async () => {
      release.open();
      await holder;
    };
  }

  beforeAll(async () => {
    s = await createTestSchema('db-timeouts');
    admin = createPgDb({ url: s.url, schema: s.schema, max: 3, statementTimeoutMs: 0 });
    await admin.query('CREATE TABLE locked (id integer)');
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  afterAll(async () => {
    await admin?.close();
    await s?.drop();
  });

  it('applies safe defaults on every connection: statement and idle-in-transaction timeouts are set', async () => {
    const db = open({});
    const settings = await db.transaction(async (tx) => {
      const show = async (name: string) =>
        (await tx.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
      return {
        statement: await show('statement_timeout'),
        idle: await show('idle_in_transaction_session_timeout'),
      };
    });
    expect(settings).toEqual({ statement: '30s', idle: '1min' });
  });

  it('a statement running longer than the statement timeout is cancelled by the server, and the connection is reused', async () => {
    const db = open({ max: 1, statementTimeoutMs: 200 });
    const before = await backendPid(db);

    const inTx = await timed(db.transaction((tx) => tx.query('SELECT pg_sleep(10)')));
    expect(inTx.error).toMatchObject({ code: '57014' }); // query_canceled: statement timeout
    expect(inTx.ms).toBeLessThan(3_000);
    // The server cancelled a statement, the session is healthy: the same connection keeps serving.
    expect(await backendPid(db)).toBe(before);

    const plain = await timed(db.query('SELECT pg_sleep(10)'));
    expect(plain.error).toMatchObject({ code: '57014' });
    expect(plain.ms).toBeLessThan(3_000);
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a statement the server never answers fails after the query timeout, and its connection is discarded', async () => {
    // Statement timeout off, so only the client-side bound can end the wait (as on a dead connection).
    const db = open({ max: 1, statementTimeoutMs: 0, queryTimeoutMs: 300 });
    const before = await backendPid(db);
    const release = await holdLock();
    try {
      const stuck = await timed(db.query('SELECT count(*) FROM locked'));
      expect(stuck.error).toBeInstanceOf(DbQueryTimeoutError);
      expect(stuck.error).toMatchObject({ code: 'DB_QUERY_TIMEOUT', retryable: true });
      expect(stuck.ms).toBeGreaterThanOrEqual(250);
      expect(stuck.ms).toBeLessThan(3_000);

      // The pool's only connection was stuck behind the unanswered statement: the pool works again
      // only because that connection was destroyed and a new one opened (another backend).
      const after = await timed(backendPid(db));
      expect(after.error).toBeUndefined();
      expect(after.ms).toBeLessThan(3_000);
      expect(await backendPid(db)).not.toBe(before);
    } finally {
      await release();
    }
  });

  it('a transaction whose statement times out fails after one query timeout (no ROLLBACK queued behind it) and discards its connection', async () => {
    const db = open({ max: 1, statementTimeoutMs: 0, queryTimeoutMs: 300 });
    const before = await backendPid(db);
    const release = await holdLock();
    try {
      const stuck = await timed(
        db.transaction(async (tx) => {
          await tx.query('SELECT 1');
          await tx.query('SELECT count(*) FROM locked');
        }),
      );
      expect(stuck.error).toBeInstanceOf(DbQueryTimeoutError);
      // A ROLLBACK sent behind the hung statement would have waited a second full timeout.
      expect(stuck.ms).toBeLessThan(550);
      expect(await backendPid(db)).not.toBe(before);
    } finally {
      await release();
    }
  });

  it('a transaction that swallows a query timeout is not committed', async () => {
    const db = open({ max: 1, statementTimeoutMs: 0, queryTimeoutMs: 300 });
    await db.query('CREATE TABLE IF NOT EXISTS written (id integer)');
    const release = await holdLock();
    let later: unknown;
    try {
      const result = await timed(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO written VALUES (1)');
          await tx.query('SELECT count(*) FROM locked').catch(() => undefined);
          later = await timed(tx.query('SELECT 1'));
        }),
      );
      expect(result.error).toBeInstanceOf(DbTransactionAbortedError);
      expect((result.error as Error).cause).toBeInstanceOf(DbQueryTimeoutError);
      // Statements after the timeout fail at once instead of queueing behind the hung one.
      expect(later).toMatchObject({ error: expect.any(DbQueryTimeoutError) });
      expect((later as { ms: number }).ms).toBeLessThan(100);
    } finally {
      await release();
    }
    expect((await db.query('SELECT count(*)::int AS n FROM written')).rows).toEqual([{ n: 0 }]);
  });

  it('the server ends a session left idle inside a transaction, without crashing the process, and the pool recovers', async () => {
    const db = open({ max: 1, idleInTransactionTimeoutMs: 200 });
    const before = await backendPid(db);
    const idle = await timed(
      db.transaction(async (tx: DbTx) => {
        await tx.query('SELECT 1');
        // The server's FATAL arrives while no statement is active on the checked-out connection.
        await new Promise((resolve) => setTimeout(resolve, 700));
        await tx.query('SELECT 1');
      }),
    );
    expect(idle.error).toBeInstanceOf(Error);
    expect(await backendPid(db)).not.toBe(before);
  });

  it('waiting for a pooled connection is bounded by the connection timeout', async () => {
    const db = open({ max: 1, connectionTimeoutMs: 200 });
    const busy = gate();
    const holding = gate();
    const holder = db.transaction(async () => {
      holding.open();
      await busy.opened;
    });
    await holding.opened;
    try {
      const waited = await timed(db.query('SELECT 1'));
      expect(waited.error).toBeInstanceOf(DbConnectTimeoutError);
      expect(waited.error).toMatchObject({ code: 'DB_CONNECT_TIMEOUT' });
      expect(waited.ms).toBeLessThan(2_000);
    } finally {
      busy.open();
      await holder;
    }
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a coalesced statement that times out rejects the whole batch, never retried row by row', async () => {
    const db = open({ statementTimeoutMs: 200, queryTimeoutMs: 1_000 });
    const batches: number[][] = [];
    const coalescer = new StatementCoalescer(
      async (items: readonly number[]) => {
        batches.push([...items]);
        const res = await db.query<{ id: number }>(
          'SELECT id, pg_sleep(CASE WHEN id >= 0 THEN 10 ELSE 0 END) FROM unnest($1::int[]) AS id',
          [items],
        );
        return res.rows.map((r) => r.id);
      },
      { key: String, maxInFlight: 1 },
    );
    const first = coalescer.run(-1); // in flight alone; the next three wait and go together
    const rest = [coalescer.run(1), coalescer.run(2), coalescer.run(3)];
    expect(await first).toBe(-1);
    const settled = await Promise.allSettled(rest);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of settled) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: '57014' });
    expect(batches).toEqual([[-1], [1, 2, 3]]);
  });

  it('a coalesced statement the server never answers rejects the whole batch with the query timeout', async () => {
    const db = open({ statementTimeoutMs: 0, queryTimeoutMs: 300 });
    const batches: number[][] = [];
    const coalescer = new StatementCoalescer(
      async (items: readonly number[]) => {
        batches.push([...items]);
        await db.query('SELECT count(*) FROM locked');
        return items;
      },
      { key: String, maxInFlight: 1 },
    );
    const release = await holdLock();
    try {
      const blocker = coalescer.run(0);
      const rest = [coalescer.run(1), coalescer.run(2)];
      const settled = await Promise.allSettled([blocker, ...rest]);
      for (const r of settled)
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DbQueryTimeoutError);
      expect(batches).toEqual([[0], [1, 2]]);
    } finally {
      await release();
    }
  });

  it('refuses timeouts that cannot work, before opening any connection', () => {
    const url = s.url;
    expect(() => createPgDb({ url, statementTimeoutMs: 5_000, queryTimeoutMs: 5_000 })).toThrow(
      /queryTimeoutMs \(5000\) must exceed statementTimeoutMs \(5000\)/,
    );
    expect(() => createPgDb({ url, statementTimeoutMs: -1 })).toThrow(DbConfigError);
    expect(() => createPgDb({ url, queryTimeoutMs: 1.5 })).toThrow(DbConfigError);
    expect(() => createPgDb({ url, connectionTimeoutMs: 2 ** 31 })).toThrow(DbConfigError);
    expect(() => createPgDb({ url: `${url}?statement_timeout=0` })).toThrow(/statement_timeout/);
    expect(() => createPgDb({ url: `${url}?sslmode=disable&query_timeout=0` })).toThrow(/query_timeout/);
  });
});
