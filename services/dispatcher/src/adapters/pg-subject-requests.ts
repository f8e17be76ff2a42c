import type { Db } from '@massivesms/db';
import { writeOutbox } from '@massivesms/outbox';
import type { DispatcherSubjectStore, DispatcherSubjectTx } from '../application/subject-requests.ts';
import { DISPATCHER_OUTBOX } from './pg-dispatch-store.ts';

/** Marks a send-ledger row whose subject was erased (matches the pseudonym shape, names nobody). */
export const ERASED_PSEUDONYM = 'ps_erased';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** The dispatcher's rows about one subject behind the data-subject request port. */
export function pgDispatcherSubjectRows(db: Db, wrote: () => void = () => {}): DispatcherSubjectStore {
  return async (fn) => {
    let announced = false;
    const result = await db.transaction(async (q) => {
      const tx: DispatcherSubjectTx = {
        async exportOf(controllerId, pseudonym) {
          const messages = await q.query<Record<string, unknown>>(
            `SELECT message_id, campaign_id, status, status_seq, carrier, attempt, carrier_message_id, segments,
                    error_code, reason, sender, purpose, instruction, created_at, updated_at, closed_at
               FROM dispatcher_messages WHERE controller_id = $1 AND recipient_pseudonym = $2
              ORDER BY created_at, message_id`,
            [controllerId, pseudonym],
          );
          // Held messages are few (quiet hours, waiting for a carrier): a scan of their JSON is cheap.
          const held = await q.query<{ message_id: string; send_after: Date; waiting_for: string[] | null }>(
            `SELECT message_id, send_after, waiting_for FROM dispatcher_scheduled
              WHERE controller_id = $1 AND record->>'recipientPseudonym' = $2 ORDER BY message_id`,
            [controllerId, pseudonym],
          );
          const suppressions = await q.query<{ kind: string; active: boolean; updated_at: Date }>(
            `SELECT kind, active, updated_at FROM dispatcher_suppressions
              WHERE controller_id = $1 AND pseudonym = $2 ORDER BY kind`,
            [controllerId, pseudonym],
          );
          return {
            messages: messages.rows.map((r) => ({
              messageId: r.message_id,
              campaignId: r.campaign_id,
              status: r.status,
              statusSeq: r.status_seq,
              carrier: r.carrier,
              attempts: r.attempt,
              carrierMessageId: r.carrier_message_id,
              segments: r.segments,
              errorCode: r.error_code,
              reason: r.reason,
              sender: r.sender,
              purpose: r.purpose,
              instruction: r.instruction,
              createdAt: iso(r.created_at as Date),
              updatedAt: iso(r.updated_at as Date),
              closedAt: iso(r.closed_at as Date | null),
            })),
            heldMessages: held.rows.map((r) => ({
              messageId: r.message_id,
              sendAfter: iso(r.send_after),
              waitingFor: r.waiting_for,
            })),
            suppressions: suppressions.rows.map((r) => ({
              kind: r.kind,
              active: r.active,
              updatedAt: iso(r.updated_at),
            })),
          };
        },
        async erase(controllerId, pseudonym) {
          const held = await q.query<{ message_id: string; campaign_id: string; claimed: boolean }>(
            `DELETE FROM dispatcher_scheduled s WHERE s.controller_id = $1 AND s.record->>'recipientPseudonym' = $2
             RETURNING s.message_id, s.record->>'campaignId' AS campaign_id,
                       EXISTS (SELECT 1 FROM dispatcher_messages m
                                WHERE m.controller_id = s.controller_id AND m.message_id = s.message_id) AS claimed`,
            [controllerId, pseudonym],
          );
          // An open message keeps the carrier's id: reconciliation still needs it to close it.
          const ledger = await q.query(
            `UPDATE dispatcher_messages
                SET recipient_pseudonym = $3, sender = NULL, reason = NULL,
                    carrier_message_id = CASE WHEN closed_at IS NULL THEN carrier_message_id END
              WHERE controller_id = $1 AND recipient_pseudonym = $2`,
            [controllerId, pseudonym, ERASED_PSEUDONYM],
          );
          return {
            held: held.rows.map((r) => ({
              messageId: r.message_id,
              campaignId: r.campaign_id,
              claimed: r.claimed,
            })),
            erased: { dispatcher_scheduled: held.rows.length, dispatcher_messages: ledger.rowCount },
          };
        },
        async eraseController(controllerId) {
          const held = await q.query<{ message_id: string; campaign_id: string; claimed: boolean }>(
            `DELETE FROM dispatcher_scheduled s WHERE s.controller_id = $1
             RETURNING s.message_id, s.record->>'campaignId' AS campaign_id,
                       EXISTS (SELECT 1 FROM dispatcher_messages m
                                WHERE m.controller_id = s.controller_id AND m.message_id = s.message_id) AS claimed`,
            [controllerId],
          );
          const closed = await q.query(
            'DELETE FROM dispatcher_messages WHERE controller_id = $1 AND closed_at IS NOT NULL',
            [controllerId],
          );
          const open = await q.query(
            `UPDATE dispatcher_messages SET recipient_pseudonym = $2, sender = NULL, reason = NULL
              WHERE controller_id = $1 AND closed_at IS NULL`,
            [controllerId, ERASED_PSEUDONYM],
          );
          return {
            held: held.rows.map((r) => ({
              messageId: r.message_id,
              campaignId: r.campaign_id,
              claimed: r.claimed,
            })),
            erased: {
              dispatcher_scheduled: held.rowCount ?? 0,
              dispatcher_messages: closed.rowCount ?? 0,
              dispatcher_messages_open_stripped: open.rowCount ?? 0,
            },
          };
        },
        async suppress(controllerId, pseudonym, kind, at) {
          await q.query(
            `INSERT INTO dispatcher_suppressions (controller_id, pseudonym, kind, active, updated_at)
             VALUES ($1, $2, $3, true, $4)
             ON CONFLICT (controller_id, pseudonym, kind) DO UPDATE SET active = true, updated_at = EXCLUDED.updated_at
              WHERE dispatcher_suppressions.updated_at <= EXCLUDED.updated_at`,
            [controllerId, pseudonym, kind, at],
          );
        },
        async announce(records) {
          await writeOutbox(q, DISPATCHER_OUTBOX, records);
          announced = records.length > 0;
        },
      };
      return fn(tx);
    });
    if (announced) wrote();
    return result;
  };
}
