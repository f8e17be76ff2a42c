import type { TestSchema } from '@massivesms/testkit';
import { createTestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/index.ts';
import { createPgDb, migrate } from '../src/index.ts';
import { fixture } from './harness.ts';

// Two service replicas starting at once, each with its own pool (as two processes would have).
describe('migrate on real PostgreSQL with concurrent runners', () => {
  let s: TestSchema;
  const dbs: Db[] = [];

  beforeAll(async () => {
    s = await createTestSchema('db-migrate');
  });

  afterAll(async () => {
    await Promise.all(dbs.map((db) => db.close()));
    await s?.drop();
  });

  it('applies each migration exactly once', async () => {
    for (let i = 0; i < 4; i++) dbs.push(createPgDb({ url: s.url, schema: s.schema, max: 2 }));

    const results = await Promise.all(
      dbs.map((db) => migrate(db, { service: 'concurrent', dir: fixture('concurrent') })),
    );

    // Between them the runners applied 1, 2, 3, each exactly once, and every call succeeded.
    expect(results.flat().sort()).toEqual([1, 2, 3]);
    const db = dbs[0]!;
    const log = await db.query<{ version: number }>('SELECT version FROM apply_log ORDER BY version');
    expect(log.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    const book = await db.query<{ version: number }>(
      'SELECT version FROM schema_migrations WHERE service = $1 ORDER BY version',
      ['concurrent'],
    );
    expect(book.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);

    // A later start is a no-op for everyone.
    expect(
      await Promise.all(dbs.map((d) => migrate(d, { service: 'concurrent', dir: fixture('concurrent') }))),
    ).toEqual([[], [], [], []]);
  });
});
