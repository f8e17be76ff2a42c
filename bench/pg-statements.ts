// Preloaded (`node --import`) into the pipeline bench's service processes: counts the SQL statements
// each process sends to PostgreSQL, as the server has no pg_stat_statements here (it needs
// shared_preload_libraries, a restart). Every pg Client query is one statement on the wire: a
// BEGIN/COMMIT pair counts two, a multi-row INSERT one; `named` ones are prepared statements.
// The bench asks over the IPC channel: `'pg-statements'` → `{ pgStatements: StatementCounts }`.
import pg from 'pg';

/** Statements sent so far, in all and by first keyword (SELECT, INSERT, WITH, BEGIN, …). */
export interface StatementCounts {
  statements: number;
  named: number;
  byKind: Record<string, number>;
}

const counts: StatementCounts = { statements: 0, named: 0, byKind: {} };
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  const config = args[0];
  const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
  if (typeof text === 'string') {
    counts.statements++;
    if (typeof (config as { name?: unknown }).name === 'string') counts.named++;
    const kind = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? '?';
    counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1;
  }
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

process.on('message', (message) => {
  if (message === 'pg-statements') process.send?.({ pgStatements: counts });
});
// The channel must not keep a service alive that would otherwise exit.
process.channel?.unref();
