import pg from 'pg';
import type { Db, DbTx, QueryResult } from './db.ts';
import { quoteIdent } from './db.ts';
import {
  DbConfigError,
  DbConnectTimeoutError,
  DbQueryTimeoutError,
  DbTransactionAbortedError,
  DbTransactionClosedError,
} from './errors.ts';
import { NamedQuery, runNamed, statementName } from './prepared.ts';
import { checkSchemaName } from './schema-name.ts';

/** Options of the PostgreSQL adapter. */
export interface PgDbOptions {
  /** Connection URL, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /**
   * TLS (DPA §5, encryption in transit). An object: every connection uses TLS, the server's
   * certificate must chain to `ca` (PEM; default Node's public CAs) and name the URL's host (libpq's
   * `sslmode=verify-full`); a server without TLS is refused. `false`: no TLS. Unset: pg's own reading
   * of the URL and `PGSSLMODE` (tests and benches on loopback). With this option set, `ssl*` URL
   * parameters are refused, since pg would let them override it.
   */
  ssl?: false | { readonly ca?: string };
  /** When set, every pooled connection starts with this schema as its only search_path entry. */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
  /** Shown in pg_stat_activity, so DBAs can tell services apart (default `massivesms`). */
  applicationName?: string;
  /**
   * Server-side bound on one statement, lock waits included (PostgreSQL `statement_timeout`, sent in
   * the startup packet so it holds from the first statement). The server cancels the statement with
   * SQLSTATE 57014 and the connection stays usable. Default 30 000; 0 leaves the server's own setting.
   */
  statementTimeoutMs?: number;
  /**
   * Client-side bound on waiting for one statement's answer (pg's `query_timeout`): what ends a wait
   * on a connection the server will never answer (dead peer, cut network). The caller gets
   * DbQueryTimeoutError and the connection is destroyed, never reused. Must exceed
   * `statementTimeoutMs`, so a merely slow statement is cancelled by the server first (the connection
   * survives). Default: `statementTimeoutMs` + 5 000 (35 000), or off when `statementTimeoutMs` is 0
   * (long statements wanted); 0 turns it off.
   */
  queryTimeoutMs?: number;
  /** Bound on opening a connection and on waiting for a free pooled one (default 10 000). */
  connectionTimeoutMs?: number;
  /**
   * Server-side: a session that stays idle inside a transaction this long is ended, so a client that
   * died mid-transaction does not hold its locks until TCP notices (PostgreSQL
   * `idle_in_transaction_session_timeout`). Default 60 000; 0 leaves the server's own setting.
   */
  idleInTransactionTimeoutMs?: number;
  /** Idle time before TCP keepalive probes start on each connection (default 10 000; always on). */
  keepAliveInitialDelayMs?: number;
  /**
   * Named prepared statements kept per connection (default 100; 0 turns them off). Every statement
   * with parameters runs as one, named after its text, so a text run again on the same connection is
   * neither parsed nor (once PostgreSQL uses a generic plan) planned again; the least recently used is
   * closed beyond this many. Texts should therefore not vary per call: pass lists as arrays
   * (`= ANY($1)`, `unnest($1::int[], …)`), not as a varying number of placeholders. Turn it off behind
   * a pooler that shares sessions between clients (PgBouncer in transaction mode before 1.21).
   */
  preparedStatements?: number;
  /**
   * PostgreSQL `plan_cache_mode` of every connection (default: the server's, normally `auto`). Under
   * `auto` a prepared statement is planned afresh on each run unless its generic plan looks no
   * costlier than the custom ones; a statement over `unnest($1::text[])` never does (the generic
   * plan assumes 10 array elements, the custom one sees 1), so it keeps paying for planning.
   * `force_generic_plan` plans each statement once per connection: right when every statement's best
   * plan does not depend on its parameter values (key lookups, batches over arrays); wrong for one
   * whose does (a range or a skewed column choosing between an index and a scan).
   */
  planCacheMode?: 'auto' | 'force_generic_plan' | 'force_custom_plan';
  /**
   * Called when an idle pooled connection fails (server restart, network cut). The pool already drops
   * the connection; the default reports to stderr. Must not throw.
   */
  onError?: (err: Error) => void;
}

/** Creates the PostgreSQL adapter of the Db port over a `pg.Pool`. */
export function createPgDb(options: PgDbOptions): Db {
  const config = poolConfig(options);
  const maxPrepared = checkPreparedStatements(options.preparedStatements);
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
  const named = (err: unknown) => namedTimeout(err, config);
  /** The statement to send: named when it has parameters (and naming is on), else the text as it is. */
  const prepared = (sql: string, params?: readonly unknown[]): NamedQuery | undefined =>
    maxPrepared > 0 && params !== undefined && params.length > 0
      ? new NamedQuery(statementName(sql), sql, params, maxPrepared)
      : undefined;

  let closing: Promise<void> | undefined;

  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      // pool.query hands a failed connection back with the error, so the pool destroys it.
      const statement = prepared(sql, params);
      try {
        if (!statement) return normalise<R>(await pool.query(sql, params as unknown[] | undefined));
        return normalise<R>(await runNamed(pool, statement));
      } catch (err) {
        // A statement alone is its own transaction: it failed, so nothing of it happened, and running
        // it again is safe. A stale cached plan (a migration changed its result columns) or a
        // statement the session lost is run once more unnamed, which neither can fail.
        if (statement && isStalePrepared(err)) {
          try {
            return normalise<R>(await pool.query(sql, params as unknown[]));
          } catch (retryErr) {
            throw named(retryErr);
          }
        }
        throw named(err);
      }
    },

    async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw named(err);
      }
      let open = true;
      // Set when the connection must not go back to the pool (destroyed on release).
      let broken: Error | undefined;
      // The pool listens for errors only on idle connections. One checked out here can fail between
      // statements (the server ended the session: pg_terminate_backend, idle-in-transaction timeout,
      // restart); unheard, that 'error' event would crash the process. The next statement fails.
      const onConnectionError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onConnectionError);
      const run = async (sql: string, params?: readonly unknown[]) => {
        try {
          const statement = prepared(sql, params);
          if (statement) return await runNamed(client, statement);
          return await client.query(sql, params as unknown[] | undefined);
        } catch (err) {
          const error = named(err);
          // The unanswered statement still occupies the connection: anything sent after it (even
          // ROLLBACK) would wait behind it for another full timeout.
          if (error instanceof DbQueryTimeoutError) broken ??= error;
          throw error;
        }
      };
      const tx: DbTx = {
        async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
          // After release the client may be running someone else's transaction: never touch it.
          if (!open) throw new DbTransactionClosedError();
          if (broken) throw broken;
          return normalise<R>(await run(sql, params));
        },
      };
      try {
        await run('BEGIN');
        const result = await fn(tx);
        open = false;
        // `fn` swallowed a timeout: COMMIT was never sent, and the server rolls back when the
        // connection is destroyed.
        if (broken) throw new DbTransactionAbortedError({ cause: broken });
        const commit = await run('COMMIT');
        // PostgreSQL answers COMMIT of an aborted transaction with a ROLLBACK tag and no error.
        if (commit.command === 'ROLLBACK') throw new DbTransactionAbortedError();
        return result;
      } catch (err) {
        open = false;
        if (!broken) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackErr) {
            // The session state is unknown: destroy the connection instead of returning it to the pool.
            broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
          }
        }
        throw err;
      } finally {
        open = false;
        client.removeListener('error', onConnectionError);
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

/**
 * pg reports its client-side timeouts as plain Errors without a code; give them our named errors
 * (stable codes, `retryable`) so callers never match message text. Anything else passes through.
 */
function namedTimeout(err: unknown, config: pg.PoolConfig): unknown {
  if (!(err instanceof Error) || (err as { code?: unknown }).code !== undefined) return err;
  if (err.message === 'Query read timeout')
    return new DbQueryTimeoutError(Number(config.query_timeout), { cause: err });
  if (
    err.message === 'timeout exceeded when trying to connect' ||
    err.message === 'Connection terminated due to connection timeout'
  )
    return new DbConnectTimeoutError(Number(config.connectionTimeoutMillis), { cause: err });
  return err;
}

function poolConfig(options: PgDbOptions): pg.PoolConfig {
  if (typeof options.url !== 'string' || options.url.length === 0) {
    throw new DbConfigError('url must be a non-empty PostgreSQL connection URL');
  }
  if (options.max !== undefined && (!Number.isInteger(options.max) || options.max < 1)) {
    throw new DbConfigError(`max must be a positive integer, got ${String(options.max)}`);
  }
  const statementTimeoutMs = checkMs(
    'statementTimeoutMs',
    options.statementTimeoutMs,
    DEFAULT_STATEMENT_TIMEOUT_MS,
  );
  const queryTimeoutMs = checkMs(
    'queryTimeoutMs',
    options.queryTimeoutMs,
    statementTimeoutMs === 0 ? 0 : statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
  );
  if (statementTimeoutMs > 0 && queryTimeoutMs > 0 && queryTimeoutMs <= statementTimeoutMs) {
    throw new DbConfigError(
      `queryTimeoutMs (${queryTimeoutMs}) must exceed statementTimeoutMs (${statementTimeoutMs}), so the server cancels a slow statement before the client discards its connection`,
    );
  }
  const connectionTimeoutMs = checkMs('connectionTimeoutMs', options.connectionTimeoutMs, 10_000);
  const idleInTransactionTimeoutMs = checkMs(
    'idleInTransactionTimeoutMs',
    options.idleInTransactionTimeoutMs,
    60_000,
  );
  const keepAliveInitialDelayMs = checkMs('keepAliveInitialDelayMs', options.keepAliveInitialDelayMs, 10_000);
  // A URL parameter of the same name would silently override ours (pg lets the URL win).
  const overridden = URL_OVERRIDES.filter((name) => new RegExp(`[?&]${name}=`).test(options.url));
  if (overridden.length > 0) {
    throw new DbConfigError(
      `set ${overridden.join(', ')} through the adapter options, not as URL parameters (the URL would override them)`,
    );
  }
  if (options.ssl !== undefined) {
    const inUrl = URL_SSL_PARAMETERS.filter((name) => new RegExp(`[?&]${name}=`).test(options.url));
    if (inUrl.length > 0) {
      throw new DbConfigError(
        `set TLS through the ssl option or the URL parameters ${inUrl.join(', ')}, not both (the URL would override the option)`,
      );
    }
  }
  const config: pg.PoolConfig = {
    connectionString: options.url,
    ...(options.ssl === undefined ? {} : { ssl: sslConfig(options.ssl) }),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'massivesms',
    // pg sends these two in the startup packet; 0 would send nothing and keep the server's setting.
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
    query_timeout: queryTimeoutMs,
    connectionTimeoutMillis: connectionTimeoutMs,
    // Probes an idle connection, so a dead peer is noticed (and dropped) instead of found by the next query.
    keepAlive: true,
    keepAliveInitialDelayMillis: keepAliveInitialDelayMs,
  };
  // Sent in the startup packet, so the very first statement on every connection already has them
  // (no race with a post-connect SET). Keep PGOPTIONS, since our `options` replaces it.
  const startup: string[] = [];
  if (options.schema !== undefined) {
    const schema = checkSchemaName(options.schema);
    startup.push(`-c search_path=${escapeStartupOption(quoteIdent(schema))}`);
  }
  if (options.planCacheMode !== undefined) {
    if (!PLAN_CACHE_MODES.includes(options.planCacheMode)) {
      throw new DbConfigError(
        `planCacheMode must be one of ${PLAN_CACHE_MODES.join(', ')}, got ${String(options.planCacheMode)}`,
      );
    }
    startup.push(`-c plan_cache_mode=${options.planCacheMode}`);
  }
  if (startup.length > 0) {
    // pg lets the URL's own `options` override ours, which would silently drop them.
    if (/[?&]options=/.test(options.url)) {
      throw new DbConfigError(
        'set the schema and planCacheMode either through the adapter options or through the URL options parameter, not both',
      );
    }
    const inherited = process.env.PGOPTIONS?.trim();
    config.options = [...(inherited ? [inherited] : []), ...startup].join(' ');
  }
  return config;
}

/**
 * A named statement that failed before doing anything because of the name itself: its cached plan no
 * longer matches its result columns (0A000 "cached plan must not change result type") or the session
 * has no such statement (26000). Both are cured by preparing it again.
 */
function isStalePrepared(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '0A000' || code === '26000';
}

function checkPreparedStatements(value: number | undefined): number {
  if (value === undefined) return DEFAULT_PREPARED_STATEMENTS;
  if (!Number.isInteger(value) || value < 0 || value > MAX_PREPARED_STATEMENTS) {
    throw new DbConfigError(
      `preparedStatements must be a whole number from 0 to ${MAX_PREPARED_STATEMENTS}, got ${String(value)}`,
    );
  }
  return value;
}

const PLAN_CACHE_MODES: readonly string[] = ['auto', 'force_generic_plan', 'force_custom_plan'];
const DEFAULT_PREPARED_STATEMENTS = 100;
/** Each holds a parse tree and a plan in the server backend's memory: keep the total bounded. */
const MAX_PREPARED_STATEMENTS = 10_000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** How much longer the client waits than the server lets a statement run (network, cancel handling). */
const QUERY_TIMEOUT_MARGIN_MS = 5_000;
const URL_OVERRIDES = ['statement_timeout', 'query_timeout', 'idle_in_transaction_session_timeout'];
const URL_SSL_PARAMETERS = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation'];

/**
 * pg's TLS settings for the ssl option. Verification is spelled out rather than left to defaults:
 * Node's tls.connect checks the chain (`rejectUnauthorized`) and the host name (pg passes the URL's
 * host, as `servername` when it is a name), which together are libpq's verify-full.
 */
function sslConfig(ssl: false | { readonly ca?: string }): pg.PoolConfig['ssl'] {
  if (ssl === false) return false;
  if (typeof ssl !== 'object' || ssl === null) {
    throw new DbConfigError('ssl must be false or an object ({ ca?: PEM text })');
  }
  return { rejectUnauthorized: true, ...(ssl.ca === undefined ? {} : { ca: ssl.ca }) };
}
/** Largest timeout accepted: a day (setTimeout overflows past 2^31-1 ms and fires at once). */
const MAX_TIMEOUT_MS = 86_400_000;

function checkMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > MAX_TIMEOUT_MS) {
    throw new DbConfigError(
      `${name} must be a whole number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${String(value)}`,
    );
  }
  return value;
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
