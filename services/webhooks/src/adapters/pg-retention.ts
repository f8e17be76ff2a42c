import type { Db } from '@massivesms/db';
import type { RetentionStore } from '@massivesms/directory';
import { writeOutbox } from '@massivesms/outbox';
import { WEBHOOKS_OUTBOX } from './pg-delivery-store.ts';

/**
 * The webhooks service's rows past a controller's retention: finished deliveries (their sealed
 * payloads name the recipient: delivery metadata) with their attempts. A pending delivery is kept
 * until it ends.
 */
export function pgWebhooksRetention(db: Db, wrote: () => void = () => {}): RetentionStore {
  return async (fn) => {
    let announced = false;
    const result = await db.transaction((q) =>
      fn({
        async purge(controllerId, cutoffs, limit) {
          const expired = await q.query<{ webhook_id: string }>(
            `SELECT webhook_id FROM webhook_deliveries
              WHERE controller_id = $1 AND state <> 'pending' AND finished_at < $2 LIMIT $3`,
            [controllerId, cutoffs.metadata, limit],
          );
          const ids = expired.rows.map((r) => r.webhook_id);
          if (ids.length === 0) return { webhook_deliveries: 0, webhook_attempts: 0 };
          const attempts = await q.query('DELETE FROM webhook_attempts WHERE webhook_id = ANY($1::text[])', [
            ids,
          ]);
          const deliveries = await q.query(
            'DELETE FROM webhook_deliveries WHERE webhook_id = ANY($1::text[])',
            [ids],
          );
          return { webhook_deliveries: deliveries.rowCount ?? 0, webhook_attempts: attempts.rowCount ?? 0 };
        },
        async announce(records) {
          await writeOutbox(q, WEBHOOKS_OUTBOX, records);
          announced = records.length > 0;
        },
      }),
    );
    if (announced) wrote();
    return result;
  };
}
