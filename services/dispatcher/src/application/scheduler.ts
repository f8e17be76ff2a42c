import { dispatchRecordSchema } from '@massivesms/contracts';
import { Snooze } from '@massivesms/messaging';
import { type DispatchDeps, dispatchBatch, HoldError } from './dispatch-batch.ts';

/** Parked messages dispatched per pass. */
const BATCH = 100;
/** How long a pass holds what it took; a crashed dispatcher's are taken again after this. */
const HOLD_MS = 60_000;

export interface Scheduler {
  stop(): Promise<void>;
}

/**
 * Dispatches messages held for quiet hours once their window opens: the parked records go through
 * the same `dispatchBatch` as the partition's (claim before send, so a crash between dispatching
 * and unparking never sends twice), then leave the table. While no route can take them (a held
 * partition), they stay parked and are taken again after the hold.
 */
export function startScheduler(
  deps: DispatchDeps,
  options: { pollMs?: number; onError?: (error: unknown) => void } = {},
): Scheduler {
  let running = true;
  const snooze = new Snooze();
  const pollMs = options.pollMs ?? 1_000;

  const loop = (async () => {
    while (running) {
      let taken = 0;
      try {
        const due = await deps.store.takeDue(BATCH, deps.now(), HOLD_MS);
        taken = due.length;
        if (taken > 0) {
          await dispatchBatch(
            deps,
            due.map((d) => ({ message: dispatchRecordSchema.parse(d.record) })),
          );
          await deps.store.unschedule(due);
        }
      } catch (error) {
        if (!(error instanceof HoldError)) options.onError?.(error);
        taken = 0; // wait before trying again
      }
      if (taken < BATCH && running) await snooze.for(pollMs);
    }
  })();

  return {
    async stop() {
      running = false;
      snooze.wake();
      await loop;
    },
  };
}
