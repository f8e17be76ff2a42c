import type { Db } from '@massivesms/db';
import { writeOutbox } from '@massivesms/outbox';
import type { SubjectRowsStore, SubjectRowsTx } from '../application/subject-requests.ts';
import { ROUTER_OUTBOX } from './pg-store.ts';

/** The router's rows about one subject (router_suppressions) behind the data-subject request port. */
export function pgSubjectRows(db: Db, wrote: () => void = () => {}): SubjectRowsStore {
  return async (fn) => {
    let announced = false;
    const result = await db.transaction(async (q) => {
      const tx: SubjectRowsTx = {
        async suppressions(controllerId, pseudonym) {
          const { rows } = await q.query<{ kind: string; active: boolean; source: string; updated_at: Date }>(
            `SELECT kind, active, source, updated_at FROM router_suppressions
              WHERE controller_id = $1 AND pseudonym = $2 ORDER BY kind`,
            [controllerId, pseudonym],
          );
          return rows.map((r) => ({
            kind: r.kind,
            active: r.active,
            source: r.source,
            updatedAt: new Date(r.updated_at).toISOString(),
          }));
        },
        async suppress(controllerId, pseudonym, kind, at) {
          await q.query(
            `INSERT INTO router_suppressions (controller_id, pseudonym, kind, active, source, updated_at)
             VALUES ($1, $2, $3, true, 'dsr', $4)
             ON CONFLICT (controller_id, pseudonym, kind) DO UPDATE
               SET active = true, source = 'dsr', updated_at = EXCLUDED.updated_at
               WHERE router_suppressions.updated_at <= EXCLUDED.updated_at`,
            [controllerId, pseudonym, kind, at],
          );
        },
        async eraseController(controllerId) {
          const deleted = await q.query('DELETE FROM router_messages WHERE controller_id = $1', [
            controllerId,
          ]);
          return { router_messages: deleted.rowCount ?? 0 };
        },
        async announce(records) {
          await writeOutbox(q, ROUTER_OUTBOX, records);
          announced = records.length > 0;
        },
      };
      return fn(tx);
    });
    if (announced) wrote();
    return result;
  };
}
