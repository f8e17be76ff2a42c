import type { Db } from '@massivesms/db';
import type { RetentionStore } from '@massivesms/directory';
import { writeOutbox } from '@massivesms/outbox';
import { ROUTER_OUTBOX } from './pg-store.ts';

/**
 * The router's rows past a controller's retention: its routing ledger (message ids and outcomes:
 * delivery metadata). Suppressions are never purged: they are what keeps a subject from being messaged.
 */
export function pgRouterRetention(db: Db, wrote: () => void = () => {}): RetentionStore {
  return async (fn) => {
    let announced = false;
    const result = await db.transaction((q) =>
      fn({
        async purge(controllerId, cutoffs, limit) {
          const deleted = await q.query(
            `DELETE FROM router_messages WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM router_messages WHERE controller_id = $1 AND routed_at < $2 LIMIT $3))`,
            [controllerId, cutoffs.metadata, limit],
          );
          return { router_messages: deleted.rowCount ?? 0 };
        },
        async announce(records) {
          await writeOutbox(q, ROUTER_OUTBOX, records);
          announced = records.length > 0;
        },
      }),
    );
    if (announced) wrote();
    return result;
  };
}
