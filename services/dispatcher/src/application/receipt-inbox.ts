import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import { applyReceipt, type ReceiptDeps, type ReceiptResult, type VerifiedReceipt } from './apply-receipt.ts';

/** Receipts taken from the inbox per pass; a backlog is worked through pass after pass without waiting. */
const BATCH = 200;
/** How long a pass holds its receipts; a crashed dispatcher's are taken again after this. */
const HOLD_MS = 60_000;
/** A receipt that could not be applied (a statement failed) is tried again after this, in order. */
const RETRY_MS = 2_000;

export interface ReceiptApplier {
  /**
   * Applies a verified receipt before the carrier gets its 2xx (the change and its events are
   * committed then); when that fails, parks it in the inbox (one INSERT), to be applied behind.
   * Rejects only when it could do neither (the carrier retries).
   */
  accept(receipt: VerifiedReceipt): Promise<ReceiptResult | 'queued'>;
  stop(): Promise<void>;
}

/**
 * A wake-up that is not lost: a `wake()` while nobody waits makes the next `for()` return at once.
 */
class Wakeup {
  #pending = false;
  #wake: (() => void) | undefined;

  /** Resolves after `ms`, at the next `wake()`, or at once if one came since the last wait. */
  for(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wake = undefined;
        self.#pending = false;
        resolve();
      }
      this.#wake = done;
    });
  }

  wake(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }
}

/**
 * Carrier receipts: applied as they arrive, one message's receipts in the order they arrived
 * (a `sent` acknowledged before `delivered` is announced), concurrently across messages, each
 * through `applyReceipt` (dedupe, state machine, status events in one statement). The carrier is
 * answered once the change is committed, so a crash before that only makes the carrier retry, and
 * the normal path writes no queue rows. A receipt whose statements fail is parked in the inbox
 * (dispatcher_receipt_inbox), and so are the later receipts of its message while it waits; the
 * inbox is worked through behind, woken when something is parked and every `pollMs` (receipts
 * parked by another dispatcher, retries), until stop.
 */
export function startReceiptApplier(
  deps: ReceiptDeps & { store: PgDispatchStore },
  options: {
    pollMs?: number;
    onResult?: (carrier: string, result: ReceiptResult) => void;
    onError?: (error: unknown) => void;
  } = {},
): ReceiptApplier {
  let running = true;
  const wakeup = new Wakeup();
  const pollMs = options.pollMs ?? RETRY_MS;
  // The last receipt in progress per message: the next one of that message waits for it.
  const tails = new Map<string, Promise<unknown>>();
  // Messages with receipts in the inbox (parked here): their later receipts go there too.
  const parkedMessages = new Map<string, number>();
  const messageOf = (r: VerifiedReceipt) => `${r.controllerId}\u0000${r.messageId}`;

  const applied = (receipt: VerifiedReceipt, result: ReceiptResult): ReceiptResult => {
    options.onResult?.(receipt.carrier, result);
    return result;
  };

  async function park(receipt: VerifiedReceipt): Promise<'queued' | 'duplicate'> {
    const key = messageOf(receipt);
    parkedMessages.set(key, (parkedMessages.get(key) ?? 0) + 1);
    try {
      const fresh = await deps.store.enqueueReceipt(receipt.dedupeKey, receipt, deps.now());
      if (!fresh) forget(key);
      wakeup.wake();
      return fresh ? 'queued' : 'duplicate';
    } catch (error) {
      forget(key);
      throw error;
    }
  }
  function forget(key: string): void {
    const n = (parkedMessages.get(key) ?? 1) - 1;
    if (n <= 0) parkedMessages.delete(key);
    else parkedMessages.set(key, n);
  }

  async function applyNow(receipt: VerifiedReceipt): Promise<ReceiptResult | 'queued'> {
    if (parkedMessages.has(messageOf(receipt))) return park(receipt);
    try {
      return applied(receipt, await applyReceipt(deps, receipt));
    } catch (error) {
      options.onError?.(error);
      return park(receipt);
    }
  }

  async function pass(): Promise<number> {
    const taken = await deps.store.takeReceipts(BATCH, deps.now(), HOLD_MS);
    const byMessage = Map.groupBy(taken, ({ receipt }) => messageOf(receipt as VerifiedReceipt));
    const done: string[] = [];
    const retry: string[] = [];
    await Promise.all(
      [...byMessage.entries()].map(async ([key, queue]) => {
        for (const [i, { dedupeKey, receipt }] of queue.entries()) {
          try {
            applied(receipt as VerifiedReceipt, await applyReceipt(deps, receipt as VerifiedReceipt));
            done.push(dedupeKey);
          } catch (error) {
            options.onError?.(error);
            // It and the later receipts of its message stay in the inbox, tried again soon in order.
            retry.push(...queue.slice(i).map((r) => r.dedupeKey));
            return;
          }
        }
        // Its parked receipts are all applied: the next ones are applied as they come.
        for (const _ of queue) forget(key);
      }),
    );
    await deps.store.removeReceipts(done);
    if (retry.length > 0) await deps.store.holdReceipts(retry, new Date(deps.now().getTime() + RETRY_MS));
    return taken.length;
  }

  const loop = (async () => {
    while (running) {
      let taken = 0;
      try {
        taken = await pass();
      } catch (error) {
        options.onError?.(error);
      }
      if (taken < BATCH && running) await wakeup.for(pollMs);
    }
  })();

  return {
    accept(receipt) {
      const key = messageOf(receipt);
      const before = tails.get(key);
      const mine = (before ? before.then(() => applyNow(receipt)) : applyNow(receipt)) as Promise<
        ReceiptResult | 'queued'
      >;
      const tail = mine.catch(() => {});
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return mine;
    },
    async stop() {
      running = false;
      wakeup.wake();
      await loop;
    },
  };
}
