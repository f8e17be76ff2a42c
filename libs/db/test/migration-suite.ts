import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/index.ts';
import {
  loadMigrations,
  MigrationChecksumMismatchError,
  MigrationDirectoryError,
  MigrationDuplicateVersionError,
  MigrationFailedError,
  MigrationFileNameError,
  MigrationOutOfOrderError,
  MigrationVersionGapError,
  migrate,
  migrateAll,
} from '../src/index.ts';
import type { Adapter, OpenedDb } from './harness.ts';
import { fixture, tableExists } from './harness.ts';

interface Row {
  service: string;
  version: number;
  name: string;
  checksum: string;
}

async function bookkeeping(db: Db, service?: string): Promise<Row[]> {
  if (!(await tableExists(db, 'schema_migrations'))) return [];
  const res = await db.query<Row>(
    'SELECT service, version, name, checksum FROM schema_migrations WHERE $1::text IS NULL OR service = $1 ORDER BY service, version',
    [service ?? null],
  );
  return res.rows;
}

/** A writable copy of a fixture folder, for tests that edit migration files. */
async function copyFixture(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `massivesms-db-${name}-`));
  await cp(fixture(name), dir, { recursive: true });
  return dir;
}

/** The migration runner's behaviour, identical on every adapter. */
export function describeMigrationSuite(adapter: Adapter): void {
  describe(`migrate (${adapter.name})`, () => {
    let opened: OpenedDb;
    let db: Db;
    const tmpDirs: string[] = [];

    beforeEach(async () => {
      opened = await adapter.open();
      db = opened.db;
    });

    afterEach(async () => {
      await opened.close();
      for (const dir of tmpDirs.splice(0)) await rm(dir, { recursive: true, force: true });
    });

    afterAll(() => adapter.dispose());

    it('applies the files in version order, each recorded with its checksum', async () => {
      const applied = await migrate(db, { service: 'widgets', dir: fixture('basic') });
      expect(applied).toEqual([1, 2, 3]);

      const files = await loadMigrations(fixture('basic'));
      expect(await bookkeeping(db)).toEqual(
        files.map((f) => ({ service: 'widgets', version: f.version, name: f.name, checksum: f.checksum })),
      );
      // 0003 inserts into the column 0002 adds, so it only works when applied in order.
      const rows = await db.query<{ name: string; colour: string }>(
        'SELECT name, colour FROM widgets ORDER BY id',
      );
      expect(rows.rows).toEqual([
        { name: 'first', colour: 'red' },
        { name: 'second', colour: 'blue' },
      ]);
      const appliedAt = await db.query<{ ok: boolean }>(
        'SELECT bool_and(applied_at <= now()) AS ok FROM schema_migrations',
      );
      expect(appliedAt.rows[0]?.ok).toBe(true);
    });

    it('applies nothing when rerun', async () => {
      await migrate(db, { service: 'widgets', dir: fixture('basic') });
      const before = await bookkeeping(db);

      expect(await migrate(db, { service: 'widgets', dir: fixture('basic') })).toEqual([]);
      expect(await bookkeeping(db)).toEqual(before);
      expect((await db.query('SELECT * FROM widgets')).rowCount).toBe(2);
    });

    it('applies only the new files when a folder grows', async () => {
      const dir = await copyFixture('basic');
      tmpDirs.push(dir);
      await rm(join(dir, '0003_seed_widgets.sql'));
      expect(await migrate(db, { service: 'widgets', dir })).toEqual([1, 2]);

      await cp(join(fixture('basic'), '0003_seed_widgets.sql'), join(dir, '0003_seed_widgets.sql'));
      expect(await migrate(db, { service: 'widgets', dir })).toEqual([3]);
    });

    it('refuses to run when an applied file was changed, naming the file', async () => {
      const dir = await copyFixture('basic');
      tmpDirs.push(dir);
      await migrate(db, { service: 'widgets', dir });
      const path = join(dir, '0002_add_colour.sql');
      await writeFile(
        path,
        `${await readFile(path, 'utf8')}\nALTER TABLE widgets ADD COLUMN size integer;\n`,
      );

      const err = await migrate(db, { service: 'widgets', dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationChecksumMismatchError);
      expect(err).toMatchObject({
        code: 'DB_MIGRATION_CHECKSUM_MISMATCH',
        service: 'widgets',
        version: 2,
        file: '0002_add_colour.sql',
      });
      expect((err as Error).message).toContain('0002_add_colour.sql');
      expect(await tableExists(db, 'widgets')).toBe(true);
      const cols = await db.query(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'widgets' AND column_name = 'size'",
      );
      expect(cols.rowCount).toBe(0);
    });

    it('treats CRLF line endings as the same content (a Windows checkout is not an edit)', async () => {
      const dir = await copyFixture('basic');
      tmpDirs.push(dir);
      await migrate(db, { service: 'widgets', dir });
      const path = join(dir, '0001_create_widgets.sql');
      await writeFile(path, (await readFile(path, 'utf8')).replaceAll('\n', '\r\n'));

      expect(await migrate(db, { service: 'widgets', dir })).toEqual([]);
    });

    it('rolls a failing file back entirely and applies nothing after it', async () => {
      const err = await migrate(db, { service: 'gadgets', dir: fixture('failing') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationFailedError);
      expect(err).toMatchObject({ code: 'DB_MIGRATION_FAILED', version: 2, file: '0002_broken.sql' });
      expect((err as Error).message).toContain('no_such_column');

      // 0001 committed in its own transaction; 0002's table, row and bookkeeping row are all gone.
      expect(await tableExists(db, 'gadgets')).toBe(true);
      expect(await tableExists(db, 'half_done')).toBe(false);
      expect((await db.query('SELECT * FROM gadgets')).rowCount).toBe(0);
      expect((await bookkeeping(db, 'gadgets')).map((r) => r.version)).toEqual([1]);
      expect(await tableExists(db, 'after_broken')).toBe(false);

      // Rerunning fails at the same file again, without touching what was applied.
      await expect(migrate(db, { service: 'gadgets', dir: fixture('failing') })).rejects.toMatchObject({
        code: 'DB_MIGRATION_FAILED',
        version: 2,
      });
      expect((await bookkeeping(db, 'gadgets')).map((r) => r.version)).toEqual([1]);
    });

    it('refuses a file that commits the runner transaction itself', async () => {
      await expect(migrate(db, { service: 'txctl', dir: fixture('tx-control') })).rejects.toMatchObject({
        code: 'DB_MIGRATION_FAILED',
        file: '0001_commits_itself.sql',
      });
      expect(await bookkeeping(db, 'txctl')).toEqual([]);
    });

    it('refuses a gap in the version numbers before touching the database', async () => {
      const err = await migrate(db, { service: 'gap', dir: fixture('gap') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationVersionGapError);
      expect(err).toMatchObject({ code: 'DB_MIGRATION_VERSION_GAP', expected: 2, found: 3 });
      expect(await tableExists(db, 'gap_first')).toBe(false);
      expect(await tableExists(db, 'schema_migrations')).toBe(false);
    });

    it('refuses a duplicate version number, naming both files', async () => {
      const err = await migrate(db, { service: 'dup', dir: fixture('duplicate') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationDuplicateVersionError);
      expect(err).toMatchObject({ code: 'DB_MIGRATION_DUPLICATE_VERSION', version: 1 });
      expect((err as Error).message).toContain('0001_first.sql');
      expect((err as Error).message).toContain('0001_also_first.sql');
      expect(await tableExists(db, 'dup_first')).toBe(false);
    });

    it('refuses a mis-named .sql file and a missing folder', async () => {
      await expect(migrate(db, { service: 'bad', dir: fixture('bad-name') })).rejects.toBeInstanceOf(
        MigrationFileNameError,
      );
      await expect(migrate(db, { service: 'bad', dir: fixture('does-not-exist') })).rejects.toBeInstanceOf(
        MigrationDirectoryError,
      );
      await expect(migrate(db, { service: 'Bad Service', dir: fixture('basic') })).rejects.toMatchObject({
        code: 'DB_CONFIG_INVALID',
      });
      expect(await tableExists(db, 'bad_name_ok')).toBe(false);
    });

    it('tolerates versions applied by a newer release, refuses to apply out of order', async () => {
      await migrate(db, { service: 'widgets', dir: fixture('basic') });
      // An older release (only 0001 in its folder) starting after a newer one migrated: nothing to do.
      const older = await copyFixture('basic');
      tmpDirs.push(older);
      await rm(join(older, '0002_add_colour.sql'));
      await rm(join(older, '0003_seed_widgets.sql'));
      expect(await migrate(db, { service: 'widgets', dir: older })).toEqual([]);

      // Version 2 missing while 3 is applied: applying 2 now would rewrite history.
      await db.query('DELETE FROM schema_migrations WHERE service = $1 AND version = $2', ['widgets', 2]);
      const err = await migrate(db, { service: 'widgets', dir: fixture('basic') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationOutOfOrderError);
      expect(err).toMatchObject({ code: 'DB_MIGRATION_OUT_OF_ORDER', version: 2 });
    });

    it('migrateAll numbers versions per service and validates every folder first', async () => {
      await expect(
        migrateAll(db, [
          { service: 'widgets', dir: fixture('basic') },
          { service: 'gap', dir: fixture('gap') },
        ]),
      ).rejects.toBeInstanceOf(MigrationVersionGapError);
      expect(await tableExists(db, 'widgets')).toBe(false);

      await expect(
        migrateAll(db, [
          { service: 'widgets', dir: fixture('basic') },
          { service: 'widgets', dir: fixture('notes') },
        ]),
      ).rejects.toMatchObject({ code: 'DB_CONFIG_INVALID' });

      const results = await migrateAll(db, [
        { service: 'widgets', dir: fixture('basic') },
        { service: 'notes', dir: fixture('notes') },
      ]);
      expect(results).toEqual([
        { service: 'widgets', applied: [1, 2, 3] },
        { service: 'notes', applied: [1] },
      ]);
      expect((await bookkeeping(db)).map((r) => `${r.service}:${r.version}`)).toEqual([
        'notes:1',
        'widgets:1',
        'widgets:2',
        'widgets:3',
      ]);
    });
  });
}
