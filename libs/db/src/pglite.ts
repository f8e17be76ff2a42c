import type { PGliteInterface, QueryOptions, Results, Transaction } from '@electric-sql/pglite';
import { PGlite, TransactionAbortedError, types } from '@electric-sql/pglite';
import type { Db, DbTx, QueryResult } from './db.ts';
import { quoteIdent } from './db.ts';
import { DbConfigError, DbTransactionAbortedError, DbTransactionClosedError } from './errors.ts';
import { checkSchemaName } from './schema-name.ts';

/**
 * Options of the embedded PGlite adapter (tests, local demos). It has no statement, query or connection
 * timeouts and no keepalive (PgDbOptions): one in-process session has no network to lose, and the
 * DATABASE_*_TIMEOUT_MS variables are ignored in the embedded mode.
 */
export interface PgliteDbOptions {
  /** Where PGlite keeps its files; in memory when omitted. */
  dataDir?: string;
  /** When set, the schema is created if missing and used as the session's only search_path entry. */
  schema?: string;
  /**
   * An existing instance to wrap instead of creating one (e.g. `template.clone()`, several times faster
   * than a fresh initdb in tests). The Db takes ownership: `close()` closes it. Excludes `dataDir`.
   */
  pglite?: PGliteInterface;
}

const INT8_ARRAY = 1016;
const BYTEA_ARRAY = 1001;
const int8AsString = (value: string): string => value;
const byteaAsBuffer = (value: string): Buffer =>
  Buffer.from(value.startsWith('\\x') ? value.slice(2) : value, 'hex');

/**
 * Values come back shaped like node-postgres' defaults, so code tested on PGlite behaves the same on the
 * production pg adapter: int8 (count(*), bigserial) as decimal strings, bytea as Buffer. Passed per
 * query (not at construction) so that wrapped instances and clones get them too.
 */
const queryOptions: QueryOptions = {
  parsers: {
    [types.INT8]: int8AsString,
    [INT8_ARRAY]: (value: string) => types.arrayParser(value, int8AsString, INT8_ARRAY),
    [types.BYTEA]: byteaAsBuffer,
    [BYTEA_ARRAY]: (value: string) => types.arrayParser(value, byteaAsBuffer, BYTEA_ARRAY),
  },
};

/** Creates the PGlite adapter of the Db port (one embedded single-session PostgreSQL). */
export async function createPgliteDb(options: PgliteDbOptions = {}): Promise<Db> {
  if (options.pglite && options.dataDir !== undefined) {
    throw new DbConfigError('pass either `pglite` or `dataDir`, not both');
  }
  // Validate before starting PGlite, so a bad option does not leak a running instance.
  const schema = options.schema === undefined ? undefined : quoteIdent(checkSchemaName(options.schema));
  const pglite = options.pglite ?? (await PGlite.create(options.dataDir));
  if (schema !== undefined) {
    try {
      // PGlite is one session, so a session-level search_path applies to every later query and transaction.
      await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
    } catch (err) {
      await pglite.close();
      throw err;
    }
  }

  let closing: Promise<void> | undefined;

  return {
    query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      return run<R>(pglite, sql, params);
    },

    async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
      try {
        return await pglite.transaction(async (inner) => {
          let open = true;
          const tx: DbTx = {
            query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
              if (!open) return Promise.reject(new DbTransactionClosedError());
              return run<R>(inner, sql, params);
            },
          };
          try {
            return await fn(tx);
          } finally {
            open = false;
          }
        });
      } catch (err) {
        // Same error as the pg adapter when COMMIT silently became ROLLBACK.
        if (err instanceof TransactionAbortedError) throw new DbTransactionAbortedError({ cause: err });
        throw err;
      }
    },

    close(): Promise<void> {
      closing ??= pglite.close();
      return closing;
    },
  };
}

async function run<R>(
  target: PGliteInterface | Transaction,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<R>> {
  // Match node-postgres: without parameters use the simple protocol, which accepts several statements.
  if (params === undefined || params.length === 0) {
    return normalise<R>((await target.exec(sql, queryOptions)).at(-1));
  }
  return normalise<R>(await target.query<R>(sql, [...params], queryOptions));
}

function normalise<R>(res: Results<R> | Results | undefined): QueryResult<R> {
  if (!res) return { rows: [], rowCount: 0 };
  return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
}
