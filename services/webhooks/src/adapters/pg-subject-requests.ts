import type { Db } from '@massivesms/db';
import { writeOutbox } from '@massivesms/outbox';
import type { WebhooksSubjectStore } from '../application/subject-requests.ts';
import { WEBHOOKS_OUTBOX } from './pg-delivery-store.ts';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** The webhooks service's deliveries about one subject behind the data-subject request port. */
export function pgWebhooksSubjectStore(db: Db, wrote: () => void = () => {}): WebhooksSubjectStore {
  return {
    async deliveriesAfter(controllerId, after, limit) {
      const { rows } = await db.query<{ webhook_id: string; message_id: string; body: string }>(
        `SELECT webhook_id, message_id, body FROM webhook_deliveries
          WHERE controller_id = $1 AND message_id IS NOT NULL
            AND ($2::text IS NULL OR (message_id, webhook_id) > ($2, $3))
          ORDER BY message_id, webhook_id LIMIT $4`,
        [controllerId, after?.messageId ?? null, after?.webhookId ?? null, limit],
      );
      return rows.map((r) => ({ webhookId: r.webhook_id, messageId: r.message_id, body: r.body }));
    },
    async deliveriesOf(controllerId, messageIds) {
      if (messageIds.length === 0) return [];
      const { rows } = await db.query<Record<string, unknown>>(
        `SELECT d.webhook_id, d.endpoint_id, d.message_id, d.event_type, d.body, d.state, d.attempts,
                d.created_at, d.finished_at,
                COALESCE((SELECT json_agg(json_build_object(
                           'attempt', a.attempt, 'startedAt', a.started_at, 'httpStatus', a.http_status,
                           'latencyMs', a.latency_ms, 'errorClass', a.error_class,
                           'responseExcerpt', a.response_excerpt) ORDER BY a.attempt)
                            FROM webhook_attempts a WHERE a.webhook_id = d.webhook_id), '[]') AS attempt_list
           FROM webhook_deliveries d
          WHERE d.controller_id = $1 AND d.message_id = ANY($2::text[])
          ORDER BY d.message_id, d.created_at, d.webhook_id`,
        [controllerId, messageIds],
      );
      return rows.map((r) => ({
        webhookId: r.webhook_id,
        endpointId: r.endpoint_id,
        messageId: r.message_id,
        eventType: r.event_type,
        body: r.body,
        state: r.state,
        attempts: typeof r.attempt_list === 'string' ? JSON.parse(r.attempt_list) : r.attempt_list,
        createdAt: iso(r.created_at as Date),
        finishedAt: iso(r.finished_at as Date | null),
      }));
    },
    async transact(fn) {
      let announced = false;
      const result = await db.transaction((q) =>
        fn({
          async erase(controllerId, messageIds) {
            if (messageIds.length === 0) return { webhook_deliveries: 0, webhook_attempts: 0 };
            const ids = await q.query<{ webhook_id: string }>(
              `SELECT webhook_id FROM webhook_deliveries WHERE controller_id = $1 AND message_id = ANY($2::text[])`,
              [controllerId, messageIds],
            );
            const webhookIds = ids.rows.map((r) => r.webhook_id);
            await q.query('DELETE FROM webhook_queue WHERE webhook_id = ANY($1::text[])', [webhookIds]);
            const attempts = await q.query(
              'DELETE FROM webhook_attempts WHERE webhook_id = ANY($1::text[])',
              [webhookIds],
            );
            const deliveries = await q.query(
              'DELETE FROM webhook_deliveries WHERE webhook_id = ANY($1::text[])',
              [webhookIds],
            );
            return { webhook_deliveries: deliveries.rowCount, webhook_attempts: attempts.rowCount };
          },
          async eraseController(controllerId) {
            const queue = await q.query(
              `DELETE FROM webhook_queue WHERE webhook_id IN
                 (SELECT webhook_id FROM webhook_deliveries WHERE controller_id = $1)`,
              [controllerId],
            );
            const attempts = await q.query(
              `DELETE FROM webhook_attempts WHERE webhook_id IN
                 (SELECT webhook_id FROM webhook_deliveries WHERE controller_id = $1)`,
              [controllerId],
            );
            const erased: Record<string, number> = {
              webhook_queue: queue.rowCount ?? 0,
              webhook_attempts: attempts.rowCount ?? 0,
            };
            for (const table of ['webhook_deliveries', 'webhook_endpoint_health', 'webhook_commands']) {
              const deleted = await q.query(`DELETE FROM ${table} WHERE controller_id = $1`, [controllerId]);
              erased[table] = deleted.rowCount ?? 0;
            }
            return erased;
          },
          async announce(records) {
            await writeOutbox(q, WEBHOOKS_OUTBOX, records);
            announced = records.length > 0;
          },
        }),
      );
      if (announced) wrote();
      return result;
    },
  };
}
