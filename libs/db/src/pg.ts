import pg from 'pg';
import type { Db, DbTx, QueryResult } from './db.ts';
import { quoteIdent } from './db.ts';
import { DbConfigError, DbTransactionAbortedError, DbTransactionClosedError } from './errors.ts';
import { checkSchemaName } from './schema-name.ts';

/** Options of the PostgreSQL adapter. */
export interface PgDbOptions {
  /** Connection URL, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /** When set, every pooled connection starts with this schema as its only search_path entry. */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
  /** Shown in pg_stat_activity, so DBAs can tell services apart (default `massivesms`). */
  applicationName?: string;
  /**
   * Called when an idle pooled connection fails (server restart, network cut). The pool already drops
   * the connection; the default reports to stderr. Must not throw.
   */
  onError?: (err: Error) => void;
}

/** Creates the PostgreSQL adapter of the Db port over a `pg.Pool`. */
export function createPgDb(options: PgDbOptions): Db {
  const config = poolConfig(options);
  const pool = new pg.Pool(config);
  const onError = options.onError ?? reportPoolError;
  // Without a listener, an idle client's socket error is an unhandled 'error' event and kills the process.
  pool.on('error', (err) => {
    try {
      onError(err);
    } catch {
      // A throwing reporter must not turn a dropped connection into a crash.
    }
  });

  let closing: Promise<void> | undefined;

  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      return normalise<R>(await pool.query(sql, params as unknown[] | undefined));
    },

    async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let open = true;
      let broken: Error | undefined;
      const tx: DbTx = {
        async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
          // After release the client may be running someone else's transaction: never touch it.
          if (!open) throw new DbTransactionClosedError();
          return normalise<R>(await client.query(sql, params as unknown[] | undefined));
        },
      };
      try {
        await client.query('BEGIN');
        const result = await fn(tx);
        open = false;
        const commit = await client.query('COMMIT');
        // PostgreSQL answers COMMIT of an aborted transaction with a ROLLBACK tag and no error.
        if (commit.command === 'ROLLBACK') throw new DbTransactionAbortedError();
        return result;
      } catch (err) {
        open = false;
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          // The session state is unknown: destroy the connection instead of returning it to the pool.
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
        throw err;
      } finally {
        open = false;
        client.release(broken);
      }
    },

    close(): Promise<void> {
      // pool.end() throws when called twice; shutdown hooks may race, so memoise.
      closing ??= pool.end();
      return closing;
    },
  };
}

function poolConfig(options: PgDbOptions): pg.PoolConfig {
  if (typeof options.url !== 'string' || options.url.length === 0) {
    throw new DbConfigError('url must be a non-empty PostgreSQL connection URL');
  }
  if (options.max !== undefined && (!Number.isInteger(options.max) || options.max < 1)) {
    throw new DbConfigError(`max must be a positive integer, got ${String(options.max)}`);
  }
  const config: pg.PoolConfig = {
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'massivesms',
  };
  if (options.schema !== undefined) {
    const schema = checkSchemaName(options.schema);
    // pg lets the URL's own `options` override ours, which would silently drop the search_path.
    if (/[?&]options=/.test(options.url)) {
      throw new DbConfigError(
        'set the schema either through `schema` or through the URL options parameter, not both',
      );
    }
    // Sent in the startup packet, so the very first statement on every connection already sees the
    // schema (no race with a post-connect SET). Keep PGOPTIONS, since our `options` replaces it.
    const searchPath = `-c search_path=${escapeStartupOption(quoteIdent(schema))}`;
    const inherited = process.env.PGOPTIONS?.trim();
    config.options = inherited ? `${inherited} ${searchPath}` : searchPath;
  }
  return config;
}

/** Escapes a value for the startup `options` string, where spaces split arguments and `\` escapes. */
function escapeStartupOption(value: string): string {
  return value.replace(/[\\\s]/g, (c) => `\\${c}`);
}

function normalise<R>(res: pg.QueryResult | pg.QueryResult[]): QueryResult<R> {
  // A parameterless multi-statement text yields one result per statement; the port returns the last.
  const last = Array.isArray(res) ? res.at(-1) : res;
  if (!last) return { rows: [], rowCount: 0 };
  return { rows: (last.rows ?? []) as R[], rowCount: last.rowCount ?? 0 };
}

function reportPoolError(err: Error): void {
  const code = (err as { code?: unknown }).code;
  console.error(
    `[@massivesms/db] idle PostgreSQL connection failed and was dropped: ${String(code ?? '')} ${err.message}`,
  );
}
