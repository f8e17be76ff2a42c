import { Snooze } from '@massivesms/messaging';
import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import { applyReceipt, type ReceiptDeps, type ReceiptResult, type VerifiedReceipt } from './apply-receipt.ts';

/** Receipts taken per pass; a backlog is worked through pass after pass without waiting. */
const BATCH = 200;
/** How long a pass holds its receipts; a crashed dispatcher's are taken again after this. */
const HOLD_MS = 60_000;
/** A receipt that could not be applied (a statement failed) is tried again after this, in order. */
const RETRY_MS = 2_000;

export interface ReceiptApplier {
  /** Parks a verified receipt (one INSERT) and wakes the applier; the carrier can get its 2xx now. */
  accept(receipt: VerifiedReceipt): Promise<'queued' | 'duplicate'>;
  stop(): Promise<void>;
}

/**
 * The receipt inbox: the ingress answers the carrier as soon as a verified receipt is stored (the
 * carriers' deadlines are short: Telnyx retries after 2 s and gives up after 3 retries), and this
 * applier works through the inbox behind it: each receipt through `applyReceipt` (dedupe, state
 * machine, status events), concurrently across messages, in arrival order per message.
 */
export function startReceiptApplier(
  deps: ReceiptDeps & { store: PgDispatchStore },
  options: {
    /** Where `accept` parks receipts (a store over the ingress's own pool); default `deps.store`. */
    inbox?: PgDispatchStore;
    pollMs?: number;
    onResult?: (carrier: string, result: ReceiptResult) => void;
    onError?: (error: unknown) => void;
  } = {},
): ReceiptApplier {
  let running = true;
  const snooze = new Snooze();
  const pollMs = options.pollMs ?? 250;

  async function pass(): Promise<number> {
    const taken = await deps.store.takeReceipts(BATCH, deps.now(), HOLD_MS);
    const byMessage = Map.groupBy(taken, ({ receipt }) => {
      const r = receipt as VerifiedReceipt;
      return `${r.controllerId}:${r.messageId}`;
    });
    const done: string[] = [];
    const retry: string[] = [];
    await Promise.all(
      [...byMessage.values()].map(async (queue) => {
        for (const [i, { dedupeKey, receipt }] of queue.entries()) {
          try {
            const result = await applyReceipt(deps, receipt as VerifiedReceipt);
            options.onResult?.((receipt as VerifiedReceipt).carrier, result);
            done.push(dedupeKey);
          } catch (error) {
            options.onError?.(error);
            // It and the later receipts of its message stay in the inbox, tried again soon in order.
            retry.push(...queue.slice(i).map((r) => r.dedupeKey));
            return;
          }
        }
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
      if (taken < BATCH && running) await snooze.for(pollMs);
    }
  })();

  return {
    async accept(receipt) {
      const fresh = await (options.inbox ?? deps.store).enqueueReceipt(
        receipt.dedupeKey,
        receipt,
        deps.now(),
      );
      snooze.wake();
      return fresh ? 'queued' : 'duplicate';
    },
    async stop() {
      running = false;
      snooze.wake();
      await loop;
    },
  };
}
