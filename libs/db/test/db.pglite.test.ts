import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPgliteDb, DbConfigError, migrate } from '../src/index.ts';
import { describeDbPortSuite } from './db-port-suite.ts';
import { fixture, pgliteAdapter, tableExists } from './harness.ts';

describeDbPortSuite(pgliteAdapter);

describe('createPgliteDb', () => {
  it('creates the schema and uses it as search_path', async () => {
    const db = await createPgliteDb({ schema: 'cell eu' });
    try {
      const res = await db.query<{ schema: string }>('SELECT current_schema() AS schema');
      expect(res.rows).toEqual([{ schema: 'cell eu' }]);
      await migrate(db, { service: 'widgets', dir: fixture('basic') });
      const where = await db.query<{ table_schema: string }>(
        "SELECT table_schema FROM information_schema.tables WHERE table_name IN ('widgets', 'schema_migrations') ORDER BY table_name",
      );
      expect(where.rows).toEqual([{ table_schema: 'cell eu' }, { table_schema: 'cell eu' }]);
      // Transactions run on the same session, so they see the same search_path.
      const inTx = await db.transaction((tx) =>
        tx.query<{ schema: string }>('SELECT current_schema() AS schema'),
      );
      expect(inTx.rows).toEqual([{ schema: 'cell eu' }]);
    } finally {
      await db.close();
      await db.close();
    }
  });

  it('persists to a data directory when one is given', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'massivesms-db-pglite-'));
    try {
      const first = await createPgliteDb({ dataDir });
      expect(await migrate(first, { service: 'widgets', dir: fixture('basic') })).toEqual([1, 2, 3]);
      await first.close();

      const second = await createPgliteDb({ dataDir });
      expect(await tableExists(second, 'widgets')).toBe(true);
      expect(await migrate(second, { service: 'widgets', dir: fixture('basic') })).toEqual([]);
      await second.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects invalid options', async () => {
    await expect(createPgliteDb({ schema: '' })).rejects.toBeInstanceOf(DbConfigError);
    await expect(createPgliteDb({ schema: 'x'.repeat(64) })).rejects.toMatchObject({
      code: 'DB_CONFIG_INVALID',
    });
  });
});
