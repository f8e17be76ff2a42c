export type { Db, DbTx, QueryResult } from './db.ts';
export { quoteIdent } from './db.ts';
export {
  DbConfigError,
  DbConnectTimeoutError,
  DbError,
  DbQueryTimeoutError,
  DbTransactionAbortedError,
  DbTransactionClosedError,
  MigrationChecksumMismatchError,
  MigrationDirectoryError,
  MigrationDuplicateVersionError,
  MigrationFailedError,
  MigrationFileNameError,
  MigrationOutOfOrderError,
  MigrationVersionGapError,
} from './errors.ts';
export type { MigrationFile, MigrationResult, MigrationSource } from './migrate.ts';
export { loadMigrations, migrate, migrateAll } from './migrate.ts';
export type { PgDbOptions } from './pg.ts';
export { createPgDb } from './pg.ts';
export type { PgliteDbOptions } from './pglite.ts';
export { createPgliteDb } from './pglite.ts';
export type { PgliteThreadDbOptions } from './pglite-thread.ts';
export { createPgliteThreadDb, DbWorkerExitedError } from './pglite-thread.ts';
export type { StatementCoalescerOptions } from './statement-coalescer.ts';
export { isRowLevelFailure, StatementCoalescer } from './statement-coalescer.ts';
