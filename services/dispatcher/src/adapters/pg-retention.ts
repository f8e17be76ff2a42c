import type { Db } from '@massivesms/db';
import type { RetentionStore } from '@massivesms/directory';
import { writeOutbox } from '@massivesms/outbox';
import { DISPATCHER_OUTBOX } from './pg-dispatch-store.ts';

/**
 * The dispatcher's rows past a controller's retention: closed rows of the send ledger (delivery
 * metadata). An open message is never purged (it must still get its terminal status), nor a held one
 * (it holds content still to be sent), nor a suppression.
 */
export function pgDispatcherRetention(db: Db, wrote: () => void = () => {}): RetentionStore {
  return async (fn) => {
    let announced = false;
    const result = await db.transaction((q) =>
      fn({
        async purge(controllerId, cutoffs, limit) {
          const deleted = await q.query(
            `DELETE FROM dispatcher_messages WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM dispatcher_messages
                WHERE controller_id = $1 AND closed_at IS NOT NULL AND closed_at < $2 LIMIT $3))`,
            [controllerId, cutoffs.metadata, limit],
          );
          return { dispatcher_messages: deleted.rowCount ?? 0 };
        },
        async announce(records) {
          await writeOutbox(q, DISPATCHER_OUTBOX, records);
          announced = records.length > 0;
        },
      }),
    );
    if (announced) wrote();
    return result;
  };
}
