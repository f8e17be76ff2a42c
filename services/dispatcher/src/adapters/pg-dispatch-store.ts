import type { Db } from '@massivesms/db';
import type { CarrierName, ClaimRequest, DispatchRow, SendStatus } from '../application/ports.ts';

function row(r: Record<string, unknown>): DispatchRow {
  return {
    controllerId: r.controller_id as string,
    messageId: r.message_id as string,
    campaignId: r.campaign_id as string,
    status: r.status as SendStatus,
    statusSeq: Number(r.status_seq),
    carrier: r.carrier as CarrierName,
    attempt: Number(r.attempt),
    carrierMessageId: (r.carrier_message_id as string | null) ?? null,
    segments: r.segments === null ? null : Number(r.segments),
    errorCode: (r.error_code as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    recipientPseudonym: r.recipient_pseudonym as string,
    instruction: r.instruction as string,
  };
}

/** The claim-before-send store (DESIGN.md §5.1) over dispatcher_messages. */
export class PgDispatchStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Claims messages in state `sending` (attempt 1) in one statement; returns only those that were
   * not claimed before — the others were already sent, or are being sent, and must not be sent again.
   */
  async claim(requests: readonly ClaimRequest[], at: Date): Promise<DispatchRow[]> {
    if (requests.length === 0) return [];
    const column = <K extends keyof ClaimRequest>(k: K) => requests.map((r) => r[k]);
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `INSERT INTO dispatcher_messages (controller_id, message_id, campaign_id, status, status_seq, carrier, attempt,
         recipient_pseudonym, instruction, sender, created_at, updated_at)
       SELECT c.controller_id, c.message_id, c.campaign_id, 'sending', 1, c.carrier, 1, c.pseudonym, c.instruction,
              c.sender, $7, $7
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $8::text[])
           AS c(controller_id, message_id, campaign_id, carrier, pseudonym, instruction, sender)
       ON CONFLICT (controller_id, message_id) DO NOTHING
       RETURNING *`,
      [
        column('controllerId'),
        column('messageId'),
        column('campaignId'),
        column('carrier'),
        column('recipientPseudonym'),
        column('instruction'),
        at,
        requests.map((r) => r.sender ?? null),
      ],
    );
    return rows.map(row);
  }

  /** Reads several messages' rows in one statement. */
  async getMany(keys: readonly { controllerId: string; messageId: string }[]): Promise<DispatchRow[]> {
    if (keys.length === 0) return [];
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT m.* FROM dispatcher_messages m
         JOIN unnest($1::text[], $2::text[]) AS k(controller_id, message_id)
           ON m.controller_id = k.controller_id AND m.message_id = k.message_id`,
      [keys.map((k) => k.controllerId), keys.map((k) => k.messageId)],
    );
    return rows.map(row);
  }

  /** Reads one message's row. */
  async get(controllerId: string, messageId: string): Promise<DispatchRow | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      'SELECT * FROM dispatcher_messages WHERE controller_id = $1 AND message_id = $2',
      [controllerId, messageId],
    );
    return rows[0] ? row(rows[0]) : undefined;
  }

  /**
   * Moves a message to the next attempt on another carrier (fail-over), only if it is still the
   * attempt the caller saw: two workers can never both fail the same message over.
   */
  async failOver(
    controllerId: string,
    messageId: string,
    fromAttempt: number,
    carrier: CarrierName,
    at: Date,
  ) {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `UPDATE dispatcher_messages SET carrier = $4, attempt = attempt + 1, updated_at = $5
        WHERE controller_id = $1 AND message_id = $2 AND attempt = $3 AND status = 'sending'
        RETURNING *`,
      [controllerId, messageId, fromAttempt, carrier, at],
    );
    return rows[0] ? row(rows[0]) : undefined;
  }

  /**
   * Records a new status if `statusSeq` is the next one (optimistic: a concurrent receipt that got
   * there first wins, and the caller re-reads and re-applies its state machine).
   */
  async advance(
    current: Pick<DispatchRow, 'controllerId' | 'messageId' | 'statusSeq'>,
    next: {
      status: SendStatus;
      carrierMessageId?: string | null;
      segments?: number | null;
      errorCode?: string | null;
      reason?: string | null;
    },
    at: Date,
  ): Promise<DispatchRow | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `UPDATE dispatcher_messages
          SET status = $4, status_seq = status_seq + 1,
              carrier_message_id = COALESCE($5, carrier_message_id), segments = COALESCE($6, segments),
              error_code = COALESCE($7, error_code), reason = COALESCE($8, reason), updated_at = $9
        WHERE controller_id = $1 AND message_id = $2 AND status_seq = $3
        RETURNING *`,
      [
        current.controllerId,
        current.messageId,
        current.statusSeq,
        next.status,
        next.carrierMessageId ?? null,
        next.segments ?? null,
        next.errorCode ?? null,
        next.reason ?? null,
        at,
      ],
    );
    return rows[0] ? row(rows[0]) : undefined;
  }

  /**
   * Drops a claim whose every attempt was refused before anything was sent (class A, no failover):
   * the held message is claimed again when its partition is retried. Only the attempt the caller
   * holds, and only while nothing was recorded for it.
   */
  async release(controllerId: string, messageId: string, attempt: number): Promise<void> {
    await this.#db.query(
      `DELETE FROM dispatcher_messages
        WHERE controller_id = $1 AND message_id = $2 AND attempt = $3 AND status = 'sending' AND carrier_message_id IS NULL`,
      [controllerId, messageId, attempt],
    );
  }

  /** Active suppressions among these subjects: `controllerId:pseudonym` → kind. */
  async activeSuppressions(
    subjects: readonly { controllerId: string; pseudonym: string }[],
  ): Promise<Map<string, string>> {
    if (subjects.length === 0) return new Map();
    const { rows } = await this.#db.query<{ controller_id: string; pseudonym: string; kind: string }>(
      `SELECT s.controller_id, s.pseudonym, s.kind FROM dispatcher_suppressions s
         JOIN unnest($1::text[], $2::text[]) AS w(controller_id, pseudonym)
           ON s.controller_id = w.controller_id AND s.pseudonym = w.pseudonym
        WHERE s.active ORDER BY s.kind`,
      [subjects.map((s) => s.controllerId), subjects.map((s) => s.pseudonym)],
    );
    return new Map(rows.map((r) => [`${r.controller_id}:${r.pseudonym}`, r.kind]));
  }

  /** Folds suppression events into the table (the latest occurrence of a key wins). */
  async applySuppressions(
    events: readonly {
      controllerId: string;
      subjectPseudonym: string;
      kind: string;
      active: boolean;
      occurredAt: string;
    }[],
  ): Promise<void> {
    if (events.length === 0) return;
    const latest = [
      ...new Map(events.map((e) => [`${e.controllerId}:${e.subjectPseudonym}:${e.kind}`, e])).values(),
    ];
    await this.#db.query(
      `INSERT INTO dispatcher_suppressions (controller_id, pseudonym, kind, active, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[])
       ON CONFLICT (controller_id, pseudonym, kind) DO UPDATE SET active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
        WHERE dispatcher_suppressions.updated_at <= EXCLUDED.updated_at`,
      [
        latest.map((e) => e.controllerId),
        latest.map((e) => e.subjectPseudonym),
        latest.map((e) => e.kind),
        latest.map((e) => e.active),
        latest.map((e) => e.occurredAt),
      ],
    );
  }

  /** Controllers (among these subject pseudonyms) that messaged the subject from `sender`. */
  async controllersThatMessaged(
    subjects: readonly { controllerId: string; pseudonym: string }[],
    sender: string,
  ): Promise<string[]> {
    if (subjects.length === 0) return [];
    const { rows } = await this.#db.query<{ controller_id: string }>(
      `SELECT DISTINCT m.controller_id FROM dispatcher_messages m
         JOIN unnest($1::text[], $2::text[]) AS w(controller_id, pseudonym)
           ON m.controller_id = w.controller_id AND m.recipient_pseudonym = w.pseudonym
        WHERE m.sender = $3`,
      [subjects.map((s) => s.controllerId), subjects.map((s) => s.pseudonym), sender],
    );
    return rows.map((r) => r.controller_id);
  }

  /**
   * Messages stuck without an outcome: `sending` not updated since `sendingBefore` (the process died
   * during the carrier call) and `unknown` not updated since `unknownBefore` (no receipt came).
   */
  async stale(sendingBefore: Date, unknownBefore: Date, limit = 500): Promise<DispatchRow[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT * FROM dispatcher_messages
        WHERE (status = 'sending' AND updated_at < $1) OR (status = 'unknown' AND updated_at < $2)
        ORDER BY updated_at LIMIT $3`,
      [sendingBefore, unknownBefore, limit],
    );
    return rows.map(row);
  }

  /**
   * What a receipt needs in one round trip: whether its dedupe key was applied before, and the
   * message's row (undefined when the message is not ours).
   */
  async forReceipt(
    controllerId: string,
    messageId: string,
    dedupeKey: string,
  ): Promise<{ seen: boolean; row: DispatchRow | undefined }> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT m.*, EXISTS (SELECT 1 FROM dispatcher_receipts WHERE dedupe_key = $3) AS receipt_seen
         FROM (SELECT 1) AS one
         LEFT JOIN dispatcher_messages m ON m.controller_id = $1 AND m.message_id = $2`,
      [controllerId, messageId, dedupeKey],
    );
    const r = rows[0]!;
    return { seen: r.receipt_seen === true, row: r.controller_id ? row(r) : undefined };
  }

  /** Records a receipt's dedupe key; false when it was seen before (a replayed receipt changes nothing). */
  async firstReceipt(dedupeKey: string, at: Date): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      'INSERT INTO dispatcher_receipts (dedupe_key, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [dedupeKey, at],
    );
    return rowCount === 1;
  }

  /** Parks a verified receipt for the applier; false when the same receipt is already waiting. */
  async enqueueReceipt(dedupeKey: string, receipt: unknown, at: Date): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `INSERT INTO dispatcher_receipt_inbox (dedupe_key, receipt, received_at) VALUES ($1, $2, $3)
       ON CONFLICT (dedupe_key) DO NOTHING`,
      [dedupeKey, JSON.stringify(receipt), at],
    );
    return rowCount === 1;
  }

  /**
   * Takes up to `limit` waiting receipts, oldest first, for `holdMs` (`SKIP LOCKED` and the hold let
   * several dispatchers share the inbox; no transaction stays open while they are applied).
   */
  async takeReceipts(
    limit: number,
    at: Date,
    holdMs: number,
  ): Promise<{ dedupeKey: string; receipt: unknown }[]> {
    const { rows } = await this.#db.query<{ dedupe_key: string; receipt: unknown }>(
      `UPDATE dispatcher_receipt_inbox SET taken_until = $3
        WHERE dedupe_key IN (
          SELECT dedupe_key FROM dispatcher_receipt_inbox
           WHERE taken_until IS NULL OR taken_until < $2
           ORDER BY received_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING dedupe_key, receipt`,
      [limit, at, new Date(at.getTime() + holdMs)],
    );
    return rows.map((r) => ({
      dedupeKey: r.dedupe_key,
      receipt: typeof r.receipt === 'string' ? JSON.parse(r.receipt) : r.receipt,
    }));
  }

  /** Removes applied receipts from the inbox. */
  async removeReceipts(dedupeKeys: readonly string[]): Promise<void> {
    if (dedupeKeys.length === 0) return;
    await this.#db.query('DELETE FROM dispatcher_receipt_inbox WHERE dedupe_key = ANY($1)', [dedupeKeys]);
  }
}
