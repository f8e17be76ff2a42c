/** Result of one statement: the rows it returned and the row count from its command tag. */
export interface QueryResult<R> {
  rows: R[];
  /** Rows returned (SELECT) or affected (INSERT/UPDATE/DELETE); 0 for commands without a count. */
  rowCount: number;
}

/**
 * Something that runs SQL. Parameters are `$1`, `$2`, … on every adapter. Without parameters the text
 * may hold several statements (the simple query protocol), which is how migration files run; the result
 * is then the last statement's.
 */
export interface DbTx {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** The storage port every service uses; adapters: PostgreSQL (`createPgDb`) and PGlite (`createPgliteDb`). */
export interface Db extends DbTx {
  /**
   * Runs `fn` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws.
   * The `tx` handle is dead once `fn` settles.
   */
  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T>;
  /** Releases connections; safe to call more than once. */
  close(): Promise<void>;
}

/** Quotes an SQL identifier (schema, table) so any name is safe to splice into SQL text. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
