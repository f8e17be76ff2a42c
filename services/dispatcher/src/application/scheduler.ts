import { dispatchRecordSchema } from '@massivesms/contracts';
import { Snooze } from '@massivesms/messaging';
import {
  DEFAULT_MAX_CARRIER_WAIT_MS,
  type DispatchDeps,
  dispatchBatch,
  HoldError,
} from './dispatch-batch.ts';
import type { CarrierName } from './ports.ts';

/** Parked messages dispatched per pass. */
const BATCH = 100;
/** How long a pass holds what it took; a crashed dispatcher's are taken again after this. */
const HOLD_MS = 60_000;

export interface Scheduler {
  stop(): Promise<void>;
}

/**
 * Dispatches parked messages when they are due: quiet-hours holds once their window opens, messages
 * waiting for a carrier once one of their carriers' breakers is not open or their wait is over. They go through the same
 * `dispatchBatch` as the partition's (claim before send, so a crash between dispatching and
 * unparking never sends twice), then leave the table, unless that batch parked them again.
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
        const open = (Object.keys(deps.routes) as CarrierName[]).filter(
          (c) => deps.routes[c].breaker.state === 'open',
        );
        const now = deps.now();
        const giveUpBefore = new Date(now.getTime() - (deps.maxCarrierWaitMs ?? DEFAULT_MAX_CARRIER_WAIT_MS));
        const due = await deps.store.takeDue(BATCH, now, HOLD_MS, open, giveUpBefore);
        taken = due.length;
        if (taken > 0) {
          const { parked } = await dispatchBatch(
            deps,
            due.map((d) => ({ message: dispatchRecordSchema.parse(d.record) })),
          );
          const again = new Set(parked.map((p) => `${p.controllerId}:${p.messageId}`));
          await deps.store.unschedule(due.filter((d) => !again.has(`${d.controllerId}:${d.messageId}`)));
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
