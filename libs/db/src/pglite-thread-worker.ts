// The worker side of createPgliteThreadDb: one PGlite (the ordinary in-process adapter) answering the
// owner thread's queries and transactions, so PostgreSQL's work runs off the owner's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import type { DbTx } from './db.ts';
import { createPgliteDb, type PgliteDbOptions } from './pglite.ts';
import type { Reply, Request, SerialisedError } from './pglite-thread-protocol.ts';

const port = parentPort;
if (!port) throw new Error('pglite-thread-worker.ts runs only as a worker thread');

const db = await createPgliteDb(workerData as PgliteDbOptions);

/** Requests for an open transaction, in order, and who waits for the next one. */
interface OpenTx {
  readonly queue: Request[];
  wake?: () => void;
}
const transactions = new Map<number, OpenTx>();

/** Thrown inside a transaction the owner rolled back (its own error stays on the owner's side). */
class RolledBack extends Error {}

const send = (reply: Reply) => port.postMessage(reply);

function serialise(error: unknown): SerialisedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  // PostgreSQL's fields (code, detail, constraint, …) are own properties; keep the plain ones.
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      fields[key] = value;
  }
  return { name: error.name, message: error.message, fields };
}

async function answer(id: number, work: () => Promise<unknown>): Promise<void> {
  try {
    send({ id, ok: true, value: await work() });
  } catch (error) {
    send({ id, ok: false, error: serialise(error) });
  }
}

async function nextFor(open: OpenTx): Promise<Request> {
  while (open.queue.length === 0) await new Promise<void>((resolve) => (open.wake = resolve));
  return open.queue.shift()!;
}

/** Runs one transaction: answers `begin` once it holds the session, then its queries until `end`. */
async function transaction(begin: Extract<Request, { op: 'begin' }>): Promise<void> {
  const open: OpenTx = { queue: [] };
  transactions.set(begin.tx, open);
  let end: Extract<Request, { op: 'end' }> | undefined;
  try {
    await db.transaction(async (tx: DbTx) => {
      send({ id: begin.id, ok: true, value: null });
      for (;;) {
        const request = await nextFor(open);
        if (request.op === 'query') {
          await answer(request.id, () => tx.query(request.sql, request.params));
        } else if (request.op === 'end') {
          end = request;
          if (!request.commit) throw new RolledBack();
          return;
        }
      }
    });
    if (end) send({ id: end.id, ok: true, value: null });
  } catch (error) {
    const replyTo = end?.id ?? begin.id;
    if (error instanceof RolledBack) send({ id: replyTo, ok: true, value: null });
    else send({ id: replyTo, ok: false, error: serialise(error) });
  } finally {
    transactions.delete(begin.tx);
  }
}

port.on('message', (request: Request) => {
  switch (request.op) {
    case 'query':
      if (request.tx === undefined) void answer(request.id, () => db.query(request.sql, request.params));
      else {
        const open = transactions.get(request.tx);
        if (!open) send({ id: request.id, ok: false, error: serialise(new Error('no such transaction')) });
        else {
          open.queue.push(request);
          open.wake?.();
        }
      }
      return;
    case 'begin':
      void transaction(request);
      return;
    case 'end': {
      const open = transactions.get(request.tx);
      if (!open) send({ id: request.id, ok: true, value: null });
      else {
        open.queue.push(request);
        open.wake?.();
      }
      return;
    }
    case 'close':
      void answer(request.id, () => db.close()).then(() => port.close());
      return;
  }
});
send({ id: 0, ok: true, value: 'ready' });
