import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * Named prepared statements, kept per connection (PostgreSQL keeps them per session).
 *
 * A parameterised statement is named after a hash of its text, so the second run of the same text on
 * the same connection skips parsing and analysis and, once PostgreSQL settles on a generic plan (after
 * five runs, when it costs no more than the custom ones), planning too. Each connection keeps at most
 * `max` of them, least recently used evicted: a Close message for the evicted one goes out in the same
 * round trip as the Parse of the new one, so an unbounded stream of distinct texts (a statement whose
 * text is built per call) costs one Close per statement, never unbounded server memory.
 *
 * Any failure of a named statement (server error, a connection error, a client-side bind error, a
 * timeout) makes its connection forget it: the next run of that text on that connection closes
 * whatever the server may still hold under the name and parses it afresh. So a statement whose cached
 * plan went stale (a migration changed its result columns, SQLSTATE 0A000) or that the server no
 * longer has (26000) fails once on that connection and then works, whatever the session's state.
 *
 * This relies on node-postgres internals pinned with it (`Query#prepare`, `handleError`,
 * `handleReadyForQuery`, the connection's `parsedStatements` / `submittedNamedStatements`); the tests
 * of the PostgreSQL adapter exercise each of them.
 */

/** Statement names by SQL text, shared by every pool (the name depends on the text alone). */
const names = new Map<string, string>();
/** Bound on `names`: texts built per call must not grow it forever (it is emptied when full). */
const MAX_NAMES = 10_000;

/** The prepared-statement name of an SQL text: `ms_` and 20 hex digits of its SHA-256. */
export function statementName(sql: string): string {
  let name = names.get(sql);
  if (name === undefined) {
    name = `ms_${createHash('sha256').update(sql).digest('hex').slice(0, 20)}`;
    if (names.size >= MAX_NAMES) names.clear();
    names.set(sql, name);
  }
  return name;
}

/** What node-postgres keeps on a connection about the statements it named (internals, see above). */
interface ConnectionInternals {
  parsedStatements: Record<string, string | undefined>;
  submittedNamedStatements: Record<string, string | undefined>;
  close(msg: { type: 'S'; name: string }): void;
}

/** Our bookkeeping of one connection's named statements. */
interface ConnectionStatements {
  /** Statements prepared (or being prepared) on the connection, least recently used first. */
  readonly lru: Set<string>;
  /** Names to close before the next Parse on this connection (forgotten after a failure). */
  readonly closeFirst: Set<string>;
}

const byConnection = new WeakMap<object, ConnectionStatements>();

function statementsOf(connection: object): ConnectionStatements {
  let s = byConnection.get(connection);
  if (!s) {
    s = { lru: new Set(), closeFirst: new Set() };
    byConnection.set(connection, s);
  }
  return s;
}

/** Makes the connection forget a statement; the server's copy (if any) is closed before the next Parse. */
function forget(connection: object, name: string): void {
  const internals = connection as ConnectionInternals;
  delete internals.parsedStatements[name];
  delete internals.submittedNamedStatements[name];
  const s = statementsOf(connection);
  s.lru.delete(name);
  s.closeFirst.add(name);
}

type QueryInternals = {
  prepare(this: pg.Query, connection: unknown): void;
  handleError(this: pg.Query, err: unknown, connection: unknown): void;
  handleReadyForQuery(this: pg.Query, connection: unknown): void;
};
const base = pg.Query.prototype as unknown as QueryInternals;

/** A parameterised statement run as a named prepared statement on whichever connection runs it. */
export class NamedQuery extends pg.Query {
  readonly #statementName: string;
  readonly #max: number;
  #failed = false;

  constructor(name: string, text: string, values: readonly unknown[], max: number) {
    super({ name, text, values: values as unknown[] });
    this.#statementName = name;
    this.#max = max;
  }

  /** Called by node-postgres (inside a corked write) when the statement goes on the wire. */
  prepare(connection: unknown): void {
    const internals = connection as ConnectionInternals;
    const name = this.#statementName;
    const s = statementsOf(connection as object);
    const close = [...s.closeFirst];
    s.closeFirst.clear();
    s.lru.delete(name);
    s.lru.add(name); // most recently used
    while (s.lru.size > this.#max) {
      const oldest = s.lru.values().next().value as string;
      s.lru.delete(oldest);
      delete internals.parsedStatements[oldest];
      close.push(oldest);
    }
    // Close never fails (an unknown name is no error, nor is an aborted transaction) and precedes the
    // Parse: closing the very name about to be parsed again is what a forgotten statement needs.
    for (const n of close) internals.close({ type: 'S', name: n });
    base.prepare.call(this, connection);
  }

  handleError(err: unknown, connection: unknown): void {
    this.#failed = true;
    forget(connection as object, this.#statementName);
    base.handleError.call(this, err, connection);
  }

  handleReadyForQuery(connection: unknown): void {
    if (this.#failed) {
      // A client-side failure (a value that cannot be sent) is reported before the server answers;
      // its ParseComplete may have marked the statement parsed again since, and node-postgres would
      // call back a second time. Forget again, and stay silent.
      forget(connection as object, this.#statementName);
      return;
    }
    base.handleReadyForQuery.call(this, connection);
  }
}

/** Runs a NamedQuery on a client and resolves with node-postgres' result. */
export function runNamed(
  client: { query(q: pg.Query, cb: (err: Error | undefined, res: pg.QueryResult) => void): unknown },
  query: NamedQuery,
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    client.query(query, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
