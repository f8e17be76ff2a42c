import { Worker } from 'node:worker_threads';
import type { Db, DbTx, QueryResult } from './db.ts';
import { DbError, DbTransactionAbortedError, DbTransactionClosedError } from './errors.ts';
import type { PgliteDbOptions } from './pglite.ts';
import type { Reply, Request, SerialisedError } from './pglite-thread-protocol.ts';
import { checkSchemaName } from './schema-name.ts';

/** A request before it gets its id (Omit over each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** Options of the threaded PGlite adapter: those of createPgliteDb, less an instance to wrap. */
export type PgliteThreadDbOptions = Omit<PgliteDbOptions, 'pglite'>;

/** The worker thread stopped (crashed or was closed) with statements still unanswered. */
export class DbWorkerExitedError extends DbError {
  constructor(detail: string) {
    super('DB_WORKER_EXITED', `the PGlite worker thread stopped: ${detail}`);
  }
}

/**
 * The PGlite adapter of the Db port, with PGlite in a worker thread. PGlite runs PostgreSQL as
 * WebAssembly on the thread that calls it, so in one process with busy services (the embedded demo)
 * every statement blocked their event loop: timers fired late and carrier calls timed out. Here
 * statements run on their own thread; the owner only posts messages. Same behaviour as
 * createPgliteDb (one session; a transaction holds it until it ends), checked by the same suite.
 */
export async function createPgliteThreadDb(options: PgliteThreadDbOptions = {}): Promise<Db> {
  if (options.schema !== undefined) checkSchemaName(options.schema);
  const worker = new Worker(new URL('./pglite-thread-worker.ts', import.meta.url), {
    workerData: { ...options },
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let exited: Error | undefined;
  const failAll = (error: Error) => {
    exited ??= error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(reviveError(reply.error));
  });
  worker.on('error', (error) => failAll(error));
  worker.on('exit', (code) => failAll(new DbWorkerExitedError(`exit code ${code}`)));

  let nextId = 1;
  const call = (request: WithoutId<Request>): Promise<unknown> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id } as Request);
    });
  };
  const query = async <R>(sql: string, params?: readonly unknown[], tx?: number) =>
    reviveResult<R>(
      (await call({
        op: 'query',
        sql,
        ...(params === undefined ? {} : { params: [...params] }),
        ...(tx === undefined ? {} : { tx }),
      })) as QueryResult<R>,
    );

  // The worker answers id 0 once its PGlite is up (or fails to start: the error event rejects it).
  await new Promise((resolve, reject) => pending.set(0, { resolve, reject }));

  let nextTx = 1;
  let closing: Promise<void> | undefined;
  return {
    query: (sql, params) => query(sql, params),

    async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
      const id = nextTx++;
      await call({ op: 'begin', tx: id });
      let open = true;
      const tx: DbTx = {
        query: (sql, params) =>
          open ? query(sql, params, id) : Promise.reject(new DbTransactionClosedError()),
      };
      let result: T;
      try {
        result = await fn(tx);
      } catch (error) {
        open = false;
        // The caller's error says more than a failed rollback (e.g. the thread is gone, and with it the transaction).
        await call({ op: 'end', tx: id, commit: false }).catch(() => {});
        throw error;
      }
      open = false;
      await call({ op: 'end', tx: id, commit: true });
      return result;
    },

    close(): Promise<void> {
      closing ??= (async () => {
        if (!exited) await call({ op: 'close' }).catch(() => {});
        await worker.terminate();
      })();
      return closing;
    },
  };
}

/** Rows as the in-process adapter gives them: structured clone turned each Buffer into a Uint8Array. */
function reviveResult<R>(result: QueryResult<R>): QueryResult<R> {
  for (const row of result.rows as Record<string, unknown>[]) {
    for (const [key, value] of Object.entries(row)) row[key] = reviveValue(value);
  }
  return result;
}

function reviveValue(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(reviveValue);
  return value;
}

/** The worker's error with PostgreSQL's fields (code, constraint, …), as the in-process adapter throws it. */
function reviveError(serialised: SerialisedError): Error {
  const error =
    serialised.fields.code === 'DB_TX_ABORTED'
      ? new DbTransactionAbortedError()
      : Object.assign(new Error(serialised.message), { name: serialised.name });
  return Object.assign(error, serialised.fields);
}
