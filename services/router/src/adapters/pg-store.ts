import type { SuppressionEvent } from '@massivesms/contracts';
import type { Db } from '@massivesms/db';
import { writeOutbox } from '@massivesms/outbox';
import type { Claim, RouterStore, RouterTx } from '../application/ports.ts';

/** The outbox the router's outputs go through (migration 0002). */
export const ROUTER_OUTBOX = 'router_outbox';

/**
 * The router's tables behind its ports: one statement per batch for each lookup and write.
 * `wrote` is told when a transaction that stored outputs committed (it wakes the relay).
 */
export function pgRouterStore(db: Db, wrote: () => void = () => {}): RouterStore {
  return async (fn) => {
    let announced = false;
    const result = await db.transaction(async (q) => {
      const tx: RouterTx = {
        async announce(records) {
          if (records.length === 0) return;
          await writeOutbox(q, ROUTER_OUTBOX, records);
          announced = true;
        },
        async activeSuppressions(subjects) {
          if (subjects.length === 0) return new Map();
          const { rows } = await q.query<{ controller_id: string; pseudonym: string; kind: string }>(
            `SELECT s.controller_id, s.pseudonym, s.kind
               FROM router_suppressions s
               JOIN unnest($1::text[], $2::text[]) AS w(controller_id, pseudonym)
                 ON s.controller_id = w.controller_id AND s.pseudonym = w.pseudonym
              WHERE s.active
              ORDER BY s.kind`,
            [subjects.map((s) => s.controllerId), subjects.map((s) => s.pseudonym)],
          );
          return new Map(rows.map((r) => [`${r.controller_id}:${r.pseudonym}`, r.kind]));
        },
        async claim(claims: readonly Claim[], at: Date) {
          if (claims.length === 0) return new Set();
          const { rows } = await q.query<{ controller_id: string; message_id: string }>(
            `INSERT INTO router_messages (controller_id, message_id, outcome, routed_at)
             SELECT controller_id, message_id, outcome, $4 FROM unnest($1::text[], $2::text[], $3::text[])
               AS c(controller_id, message_id, outcome)
             ON CONFLICT (controller_id, message_id) DO NOTHING
             RETURNING controller_id, message_id`,
            [
              claims.map((c) => c.controllerId),
              claims.map((c) => c.messageId),
              claims.map((c) => c.outcome),
              at,
            ],
          );
          return new Set(rows.map((r) => `${r.controller_id}:${r.message_id}`));
        },
      };
      return fn(tx);
    });
    if (announced) wrote(); // committed: the relay may publish them now
    return result;
  };
}

/** Folds suppression events into router_suppressions (latest occurrence wins), one statement per batch. */
export async function applySuppressions(db: Db, events: readonly SuppressionEvent[]): Promise<void> {
  if (events.length === 0) return;
  // Later events for one key in the same batch win: keep the last of each.
  const latest = new Map(events.map((e) => [`${e.controllerId}:${e.subjectPseudonym}:${e.kind}`, e]));
  const list = [...latest.values()];
  await db.query(
    `INSERT INTO router_suppressions (controller_id, pseudonym, kind, active, source, updated_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::timestamptz[])
     ON CONFLICT (controller_id, pseudonym, kind) DO UPDATE
       SET active = EXCLUDED.active, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
       WHERE router_suppressions.updated_at <= EXCLUDED.updated_at`,
    [
      list.map((e) => e.controllerId),
      list.map((e) => e.subjectPseudonym),
      list.map((e) => e.kind),
      list.map((e) => e.active),
      list.map((e) => e.source),
      list.map((e) => e.occurredAt),
    ],
  );
}
