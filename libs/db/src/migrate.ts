import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db, DbTx } from './db.ts';
import {
  DbConfigError,
  MigrationChecksumMismatchError,
  MigrationDirectoryError,
  MigrationDuplicateVersionError,
  MigrationFailedError,
  MigrationFileNameError,
  MigrationOutOfOrderError,
  MigrationVersionGapError,
} from './errors.ts';

/** One service's migration folder. */
export interface MigrationSource {
  /** Owner of the migrations; versions are numbered per service in the shared bookkeeping table. */
  service: string;
  /** Folder holding `NNNN_name.sql` files. */
  dir: string;
}

/** One migration file, parsed and checksummed. */
export interface MigrationFile {
  version: number;
  name: string;
  /** File name, e.g. `0001_create_messages.sql`. */
  file: string;
  sql: string;
  /** sha256 (hex) of the text with CRLF normalised to LF. */
  checksum: string;
}

/** What `migrateAll` did for one service. */
export interface MigrationResult {
  service: string;
  /** Versions applied by this call, ascending (empty when already up to date). */
  applied: number[];
}

const FILE_PATTERN = /^(\d{4,})_(.+)\.sql$/;
const SERVICE_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  service text NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (service, version)
)`;

/**
 * One lock per schema (the bookkeeping table lives in the search_path schema): runners for different
 * cells/schemas do not wait for each other, runners for the same schema apply one file at a time.
 */
const LOCK = `SELECT pg_advisory_xact_lock(hashtext('massivesms.schema_migrations'), hashtext(coalesce(current_schema(), '')))`;

/** Reads, validates and checksums a migration folder without touching the database. */
export async function loadMigrations(dir: string): Promise<MigrationFile[]> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    throw new MigrationDirectoryError(dir, { cause: err });
  }
  const parsed: { version: number; name: string; file: string }[] = [];
  for (const file of entries) {
    // Other files (README.md, .gitkeep) may live next to migrations; a mis-named .sql file may not,
    // because skipping it silently would leave the schema behind.
    if (!file.endsWith('.sql')) continue;
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new MigrationFileNameError(dir, file);
    parsed.push({ version: Number.parseInt(match[1]!, 10), name: match[2]!, file });
  }
  parsed.sort((a, b) => a.version - b.version || a.file.localeCompare(b.file));

  for (let i = 0; i < parsed.length; i++) {
    const current = parsed[i]!;
    const previous = parsed[i - 1];
    if (previous && previous.version === current.version) {
      const same = parsed.filter((p) => p.version === current.version).map((p) => p.file);
      throw new MigrationDuplicateVersionError(dir, current.version, same);
    }
    if (current.version !== i + 1) {
      throw new MigrationVersionGapError(dir, i + 1, current.version, current.file);
    }
  }

  return Promise.all(
    parsed.map(async (p) => {
      const sql = await readFile(join(dir, p.file), 'utf8');
      return { ...p, sql, checksum: checksumOf(sql) };
    }),
  );
}

/** Applies one service's pending migrations in order, each in its own transaction; returns the versions applied. */
export async function migrate(db: Db, source: MigrationSource): Promise<number[]> {
  checkService(source.service);
  return applyMigrations(db, source.service, await loadMigrations(source.dir));
}

/** Migrates several services in the given order; every folder is validated before anything is applied. */
export async function migrateAll(db: Db, sources: readonly MigrationSource[]): Promise<MigrationResult[]> {
  const seen = new Set<string>();
  for (const source of sources) {
    checkService(source.service);
    if (seen.has(source.service)) throw new DbConfigError(`service ${source.service} is listed twice`);
    seen.add(source.service);
  }
  const loaded = await Promise.all(
    sources.map(async (s) => ({ service: s.service, files: await loadMigrations(s.dir) })),
  );
  const results: MigrationResult[] = [];
  for (const { service, files } of loaded) {
    results.push({ service, applied: await applyMigrations(db, service, files) });
  }
  return results;
}

async function applyMigrations(db: Db, service: string, files: readonly MigrationFile[]): Promise<number[]> {
  // First pass: create the bookkeeping table, verify history, find what is pending.
  const pending = await db.transaction(async (tx) => {
    await lockSchema(tx);
    await tx.query(CREATE_TABLE);
    const applied = await appliedRows(tx, service);
    let maxApplied = 0;
    for (const row of applied) {
      maxApplied = Math.max(maxApplied, row.version);
      const file = files[row.version - 1];
      // Versions above the folder's last file were applied by a newer release (rolling deploy): tolerated.
      if (file) verifyChecksum(service, file, row.checksum);
    }
    const done = new Set(applied.map((r) => r.version));
    const todo = files.filter((f) => !done.has(f.version));
    const first = todo[0];
    if (first && first.version < maxApplied) {
      throw new MigrationOutOfOrderError(service, first.version, first.file, maxApplied);
    }
    return todo;
  });

  const appliedNow: number[] = [];
  for (const file of pending) {
    const didApply = await db.transaction(async (tx) => {
      await lockSchema(tx);
      // Another runner may have applied it between our first pass and this lock.
      const existing = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM schema_migrations WHERE service = $1 AND version = $2',
        [service, file.version],
      );
      const row = existing.rows[0];
      if (row) {
        verifyChecksum(service, file, row.checksum);
        return false;
      }
      await applyFile(tx, service, file);
      await tx.query(
        'INSERT INTO schema_migrations (service, version, name, checksum) VALUES ($1, $2, $3, $4)',
        [service, file.version, file.name, file.checksum],
      );
      return true;
    });
    if (didApply) appliedNow.push(file.version);
  }
  return appliedNow;
}

async function applyFile(tx: DbTx, service: string, file: MigrationFile): Promise<void> {
  const before = await currentTxid(tx);
  try {
    await tx.query(file.sql);
  } catch (err) {
    throw new MigrationFailedError(service, file.version, file.file, errorMessage(err), { cause: err });
  }
  // A COMMIT/ROLLBACK inside the file would end our transaction and break "file + bookkeeping row
  // together"; a different transaction id afterwards is the evidence.
  if ((await currentTxid(tx)) !== before) {
    throw new MigrationFailedError(
      service,
      file.version,
      file.file,
      'it ends the transaction itself (COMMIT/ROLLBACK/BEGIN); migration files must not control transactions',
    );
  }
}

async function lockSchema(tx: DbTx): Promise<void> {
  // READ COMMITTED (must be the first statement) so that, after waiting for the lock, the next statement
  // sees what the other runner committed even when the server's default isolation is stricter.
  await tx.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
  await tx.query(LOCK);
}

async function appliedRows(tx: DbTx, service: string): Promise<{ version: number; checksum: string }[]> {
  const res = await tx.query<{ version: number; checksum: string }>(
    'SELECT version, checksum FROM schema_migrations WHERE service = $1 ORDER BY version',
    [service],
  );
  return res.rows;
}

async function currentTxid(tx: DbTx): Promise<string> {
  const res = await tx.query<{ id: string }>('SELECT txid_current()::text AS id');
  return res.rows[0]?.id ?? '';
}

function verifyChecksum(service: string, file: MigrationFile, appliedChecksum: string): void {
  if (appliedChecksum !== file.checksum) {
    throw new MigrationChecksumMismatchError(
      service,
      file.version,
      file.file,
      appliedChecksum,
      file.checksum,
    );
  }
}

function checkService(service: string): void {
  if (typeof service !== 'string' || !SERVICE_PATTERN.test(service)) {
    throw new DbConfigError(
      `service must match ${SERVICE_PATTERN} (lower-case letters, digits, _ and -), got ${JSON.stringify(service)}`,
    );
  }
}

/** Line endings are normalised so a Windows checkout (autocrlf) does not look like an edited migration. */
function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replaceAll('\r\n', '\n')).digest('hex');
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
