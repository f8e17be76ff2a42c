import { type Db, type DbTx, StatementCoalescer } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { outboxInsert, outboxParams, writeOutbox } from '@massivesms/outbox';
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
    ...(r.purpose ? { purpose: r.purpose as string } : {}),
    updatedAt: new Date(r.updated_at as string | Date),
  };
}

/** The columns `row` reads (not `sender`, `created_at`, `checked_at`, `closed_at`: fewer to send and parse). */
const ROW = `controller_id, message_id, campaign_id, status, status_seq, carrier, attempt, carrier_message_id,
  segments, error_code, reason, recipient_pseudonym, instruction, purpose, updated_at`;
/** The same columns of `dispatcher_messages m`. */
const M_ROW = ROW.split(',')
  .map((c) => `m.${c.trim()}`)
  .join(', ');

/** A message parked out of its partition's way (see `park`). */
export interface ParkedMessage {
  readonly controllerId: string;
  readonly messageId: string;
  readonly dueAt: Date;
  /** The carriers it waits for (every one its instruction allows); absent: a quiet-hours hold. */
  readonly waitingFor?: readonly string[];
  readonly record: unknown;
}

/** The outbox the dispatcher's events go through (migration 0004). */
export const DISPATCHER_OUTBOX = 'dispatcher_outbox';

/** A status change to record: what changes (null/absent keeps the stored value). */
export interface NextStatus {
  status: SendStatus;
  carrierMessageId?: string | null;
  segments?: number | null;
  errorCode?: string | null;
  reason?: string | null;
}

/** The events that announce a change, built from the row as it will be once the change is stored. */
export type Announce = (updated: DispatchRow) => readonly OutgoingRecord[];

type Advance = {
  current: DispatchRow;
  next: NextStatus;
  at: Date;
  events: readonly OutgoingRecord[];
  /** The receipt this change applies: its dedupe key is recorded by the same statement. */
  receiptKey: string | undefined;
};

/** Statuses after which a message never changes: `closed_at` is set with them (migration 0008). */
const TERMINAL_SQL = `('delivered', 'undelivered', 'failed', 'expired')`;

/** The row `advance` stores: mirrors its UPDATE (absent fields keep their value, the sequence moves on). */
function advanced(current: DispatchRow, next: NextStatus): DispatchRow {
  return {
    ...current,
    status: next.status,
    statusSeq: current.statusSeq + 1,
    carrierMessageId: next.carrierMessageId ?? current.carrierMessageId,
    segments: next.segments ?? current.segments,
    errorCode: next.errorCode ?? current.errorCode,
    reason: next.reason ?? current.reason,
  };
}
type Enqueue = { dedupeKey: string; receipt: unknown; at: Date };
type ReceiptLookup = { controllerId: string; messageId: string; dedupeKey: string };

/**
 * The rows this process last stored or read, newest kept (bounded): a receipt usually arrives
 * moments after its message's send outcome was stored here, so the row it needs is known without
 * reading it. Only a starting point: every change is conditional on the row's `statusSeq`, so a
 * stale row (changed by another dispatcher) only costs a re-read. Shared by the stores of one
 * dispatcher (the ingress has its own pool).
 */
export class RecentRows {
  readonly #rows = new Map<string, DispatchRow>();
  readonly #max: number;

  constructor(max = 5_000) {
    this.#max = max;
  }

  get(controllerId: string, messageId: string): DispatchRow | undefined {
    return this.#rows.get(`${controllerId}\u0000${messageId}`);
  }

  /** Keeps `r` unless a later version of it is already kept (results can arrive out of order). */
  remember(r: DispatchRow): void {
    const key = `${r.controllerId}\u0000${r.messageId}`;
    const kept = this.#rows.get(key);
    if (
      kept &&
      (kept.statusSeq > r.statusSeq || (kept.statusSeq === r.statusSeq && kept.attempt > r.attempt))
    )
      return;
    this.#rows.delete(key);
    this.#rows.set(key, r);
    if (this.#rows.size > this.#max) this.#rows.delete(this.#rows.keys().next().value!);
  }

  forget(controllerId: string, messageId: string): void {
    this.#rows.delete(`${controllerId}\u0000${messageId}`);
  }
}

/** The claim-before-send store (DESIGN.md §5.1) over dispatcher_messages. */
export class PgDispatchStore {
  readonly #db: Db;
  // Send outcomes and receipts arrive concurrently, one row each: they are written and read as
  // multi-row statements (one round trip per batch, not per message). See StatementCoalescer.
  readonly #advances: StatementCoalescer<Advance, DispatchRow | undefined>;
  readonly #firstReceipts: StatementCoalescer<{ dedupeKey: string; at: Date }, boolean>;
  readonly #enqueues: StatementCoalescer<Enqueue, boolean>;
  readonly #receiptLookups: StatementCoalescer<
    ReceiptLookup,
    { seen: boolean; row: DispatchRow | undefined }
  >;

  readonly #wrote: () => void;
  /** Rows as last stored or read here (see RecentRows). */
  readonly recent: RecentRows;

  /** `wrote` is told when events were committed to the outbox (it wakes the relay). */
  constructor(db: Db, wrote: () => void = () => {}, recent: RecentRows = new RecentRows()) {
    this.#db = db;
    this.#wrote = wrote;
    this.recent = recent;
    const message = (c: Advance['current']) => `${c.controllerId}\u0000${c.messageId}`;
    this.#advances = new StatementCoalescer((items) => this.#advanceMany(items), {
      key: (a) => message(a.current),
    });
    this.#firstReceipts = new StatementCoalescer((items) => this.#firstReceiptMany(items), {
      key: (r) => r.dedupeKey,
    });
    // One statement in flight: two concurrent ones could number their receipts out of arrival order.
    this.#enqueues = new StatementCoalescer((items) => this.#enqueueMany(items), {
      key: (r) => r.dedupeKey,
      maxInFlight: 1,
    });
    this.#receiptLookups = new StatementCoalescer((items) => this.#forReceiptMany(items), {
      key: (r) => r.dedupeKey,
    });
  }

  #kept(r: DispatchRow): DispatchRow {
    this.recent.remember(r);
    return r;
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
         recipient_pseudonym, instruction, sender, purpose, created_at, updated_at)
       SELECT c.controller_id, c.message_id, c.campaign_id, 'sending', 1, c.carrier, 1, c.pseudonym, c.instruction,
              c.sender, c.purpose, $7, $7
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $8::text[], $9::text[])
           AS c(controller_id, message_id, campaign_id, carrier, pseudonym, instruction, sender, purpose)
       ON CONFLICT (controller_id, message_id) DO NOTHING
       RETURNING ${ROW}`,
      [
        column('controllerId'),
        column('messageId'),
        column('campaignId'),
        column('carrier'),
        column('recipientPseudonym'),
        column('instruction'),
        at,
        requests.map((r) => r.sender ?? null),
        requests.map((r) => r.purpose ?? null),
      ],
    );
    return rows.map((r) => this.#kept(row(r)));
  }

  /** Reads several messages' rows in one statement. */
  async getMany(keys: readonly { controllerId: string; messageId: string }[]): Promise<DispatchRow[]> {
    if (keys.length === 0) return [];
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT ${M_ROW} FROM dispatcher_messages m
         JOIN unnest($1::text[], $2::text[]) AS k(controller_id, message_id)
           ON m.controller_id = k.controller_id AND m.message_id = k.message_id`,
      [keys.map((k) => k.controllerId), keys.map((k) => k.messageId)],
    );
    return rows.map(row);
  }

  /** Reads one message's row. */
  async get(controllerId: string, messageId: string): Promise<DispatchRow | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT ${ROW} FROM dispatcher_messages WHERE controller_id = $1 AND message_id = $2`,
      [controllerId, messageId],
    );
    return rows[0] ? this.#kept(row(rows[0])) : undefined;
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
    events: readonly OutgoingRecord[] = [],
  ) {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `WITH moved AS (
         UPDATE dispatcher_messages SET carrier = $4, attempt = attempt + 1, updated_at = $5
          WHERE controller_id = $1 AND message_id = $2 AND attempt = $3 AND status = 'sending'
          RETURNING ${ROW}
       ), announced AS (
         ${outboxInsert(DISPATCHER_OUTBOX, 6, 'EXISTS (SELECT 1 FROM moved)')}
       )
       SELECT * FROM moved`,
      [controllerId, messageId, fromAttempt, carrier, at, ...outboxParams([events])],
    );
    if (rows[0] && events.length > 0) this.#wrote();
    return rows[0] ? this.#kept(row(rows[0])) : undefined;
  }

  /**
   * Records a new status if `statusSeq` is the next one (optimistic: a concurrent receipt that got
   * there first wins, and the caller re-reads and re-applies its state machine).
   */
  advance(
    current: DispatchRow,
    next: NextStatus,
    at: Date,
    announce?: Announce,
    receiptKey?: string,
  ): Promise<DispatchRow | undefined> {
    // The events are written by the same statement, and only if the row really changed (DESIGN §5.0);
    // so is the dedupe key of the receipt that made the change (`firstReceipt` otherwise).
    const events = announce ? announce(advanced(current, next)) : [];
    return this.#advances.run({ current, next, at, events, receiptKey });
  }

  async #advanceMany(items: readonly Advance[]): Promise<(DispatchRow | undefined)[]> {
    // Rows are locked in key order, so two dispatchers' batches cannot deadlock each other.
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `WITH u AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[],
                              $7::text[], $8::text[], $9::timestamptz[]) WITH ORDINALITY
           AS u(controller_id, message_id, status_seq, status, carrier_message_id, segments, error_code, reason, at, ord)
       ), locked AS (
         SELECT m.controller_id, m.message_id FROM dispatcher_messages m
           JOIN u ON u.controller_id = m.controller_id AND u.message_id = m.message_id AND u.status_seq = m.status_seq
          ORDER BY m.controller_id, m.message_id
            FOR UPDATE OF m
       )
       , updated AS (
         UPDATE dispatcher_messages m
            SET status = u.status, status_seq = m.status_seq + 1,
                carrier_message_id = COALESCE(u.carrier_message_id, m.carrier_message_id),
                segments = COALESCE(u.segments, m.segments), error_code = COALESCE(u.error_code, m.error_code),
                reason = COALESCE(u.reason, m.reason), updated_at = u.at,
                closed_at = CASE WHEN u.status IN ${TERMINAL_SQL} THEN COALESCE(m.closed_at, u.at) ELSE m.closed_at END
           FROM u JOIN locked USING (controller_id, message_id)
          WHERE m.controller_id = u.controller_id AND m.message_id = u.message_id AND m.status_seq = u.status_seq
          RETURNING u.ord, ${M_ROW}
       ), announced AS (
         ${outboxInsert(DISPATCHER_OUTBOX, 11, 'e.item IN (SELECT ord FROM updated)')}
       ), receipted AS (
         INSERT INTO dispatcher_receipts (dedupe_key, received_at)
         SELECT r.dedupe_key, r.at FROM unnest($10::text[], $9::timestamptz[]) WITH ORDINALITY AS r(dedupe_key, at, ord)
          WHERE r.dedupe_key IS NOT NULL AND r.ord IN (SELECT ord FROM updated)
          ORDER BY 1 -- key order: two dispatchers' statements cannot deadlock
         ON CONFLICT DO NOTHING
       )
       SELECT * FROM updated`,
      [
        items.map((a) => a.current.controllerId),
        items.map((a) => a.current.messageId),
        items.map((a) => a.current.statusSeq),
        items.map((a) => a.next.status),
        items.map((a) => a.next.carrierMessageId ?? null),
        items.map((a) => a.next.segments ?? null),
        items.map((a) => a.next.errorCode ?? null),
        items.map((a) => a.next.reason ?? null),
        items.map((a) => a.at),
        items.map((a) => a.receiptKey ?? null),
        ...outboxParams(items.map((a) => a.events)),
      ],
    );
    if (rows.length > 0 && items.some((a) => a.events.length > 0)) this.#wrote();
    const updated = new Map(rows.map((r) => [`${r.controller_id}\u0000${r.message_id}`, this.#kept(row(r))]));
    return items.map((a) => updated.get(`${a.current.controllerId}\u0000${a.current.messageId}`));
  }

  /**
   * Drops a claim whose every attempt was refused before anything was sent (class A, no failover):
   * the held message is claimed again when its partition is retried. Only the attempt the caller
   * holds, and only while nothing was recorded for it.
   */
  async release(
    controllerId: string,
    messageId: string,
    attempt: number,
    events: readonly OutgoingRecord[] = [],
  ): Promise<void> {
    this.recent.forget(controllerId, messageId);
    await this.#db.query(
      `WITH released AS (
         DELETE FROM dispatcher_messages
          WHERE controller_id = $1 AND message_id = $2 AND attempt = $3 AND status = 'sending' AND carrier_message_id IS NULL
          RETURNING 1
       )
       ${outboxInsert(DISPATCHER_OUTBOX, 4, 'EXISTS (SELECT 1 FROM released)')}`,
      [controllerId, messageId, attempt, ...outboxParams([events])],
    );
    if (events.length > 0) this.#wrote();
  }

  /**
   * Parks messages out of their partition's way: held for quiet hours (due at their `sendAfter`), or
   * waiting for a carrier (`waitingFor`: due when one of those carriers' breakers is not open, and
   * not before `dueAt`). Parking again (the scheduler found no route either) moves the due time.
   */
  async park(items: readonly ParkedMessage[]): Promise<void> {
    if (items.length === 0) return;
    await this.#db.query(
      `INSERT INTO dispatcher_scheduled (controller_id, message_id, send_after, record, waiting_for)
       SELECT k.controller_id, k.message_id, k.due_at, k.record,
              CASE WHEN k.waiting_for IS NULL THEN NULL ELSE string_to_array(k.waiting_for, ',') END
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::text[])
           AS k(controller_id, message_id, due_at, record, waiting_for)
       ON CONFLICT (controller_id, message_id) DO UPDATE
         SET send_after = excluded.send_after, waiting_for = excluded.waiting_for, taken_until = NULL`,
      [
        items.map((r) => r.controllerId),
        items.map((r) => r.messageId),
        items.map((r) => r.dueAt),
        items.map((r) => JSON.stringify(r.record)),
        items.map((r) => (r.waitingFor ? r.waitingFor.join(',') : null)),
      ],
    );
  }

  /**
   * Takes up to `limit` parked messages that are due, for `holdMs` (SKIP LOCKED: shared by
   * dispatchers): their time came, and a message waiting for carriers only when one of them is
   * not in `openCarriers` (a long outage does not churn its backlog through here) or it was
   * accepted before `giveUpBefore` (its wait is over: it is closed).
   */
  async takeDue(
    limit: number,
    at: Date,
    holdMs: number,
    openCarriers: readonly string[] = [],
    giveUpBefore: Date = new Date(0),
  ): Promise<{ controllerId: string; messageId: string; record: unknown }[]> {
    const { rows } = await this.#db.query<{
      controller_id: string;
      message_id: string;
      record: unknown;
      send_after: Date;
    }>(
      `UPDATE dispatcher_scheduled SET taken_until = $3
        WHERE (controller_id, message_id) IN (
          SELECT controller_id, message_id FROM dispatcher_scheduled
           WHERE send_after <= $2 AND (taken_until IS NULL OR taken_until < $2)
             AND (waiting_for IS NULL OR NOT (waiting_for <@ $4::text[])
                  OR (record->>'acceptedAt')::timestamptz < $5)
           ORDER BY send_after LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING controller_id, message_id, record, send_after`,
      [limit, at, new Date(at.getTime() + holdMs), openCarriers, giveUpBefore],
    );
    rows.sort((a, b) => new Date(a.send_after).getTime() - new Date(b.send_after).getTime());
    return rows.map((r) => ({
      controllerId: r.controller_id,
      messageId: r.message_id,
      record: typeof r.record === 'string' ? JSON.parse(r.record) : r.record,
    }));
  }

  /** How many messages are parked, by why (the `dispatcher_parked_messages` gauge). */
  async parkedCounts(): Promise<{ quietHours: number; carrier: number }> {
    const { rows } = await this.#db.query<{ quiet_hours: number; carrier: number }>(
      `SELECT count(*) FILTER (WHERE waiting_for IS NULL)::int AS quiet_hours,
              count(*) FILTER (WHERE waiting_for IS NOT NULL)::int AS carrier
         FROM dispatcher_scheduled`,
    );
    return { quietHours: rows[0]?.quiet_hours ?? 0, carrier: rows[0]?.carrier ?? 0 };
  }

  /** Removes parked messages that were dispatched (claimed, or refused with their status). */
  async unschedule(keys: readonly { controllerId: string; messageId: string }[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#db.query(
      `DELETE FROM dispatcher_scheduled s USING unnest($1::text[], $2::text[]) AS k(controller_id, message_id)
        WHERE s.controller_id = k.controller_id AND s.message_id = k.message_id`,
      [keys.map((k) => k.controllerId), keys.map((k) => k.messageId)],
    );
  }

  /** Writes events that announce no stored change of ours (refusals, inbound opt-outs) to the outbox. */
  async writeEvents(events: readonly OutgoingRecord[], tx: DbTx = this.#db): Promise<void> {
    if (events.length === 0) return;
    await writeOutbox(tx, DISPATCHER_OUTBOX, events);
    this.#wrote();
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
      `SELECT ${ROW} FROM dispatcher_messages
        WHERE closed_at IS NULL
          AND ((status = 'sending' AND updated_at < $1) OR (status = 'unknown' AND updated_at < $2))
        ORDER BY updated_at LIMIT $3`,
      [sendingBefore, unknownBefore, limit],
    );
    return rows.map(row);
  }

  /**
   * Messages a carrier accepted that got no final receipt: `queued` or `sent`, not updated since
   * `before`, and not asked about since `checkedBefore`.
   */
  async unconfirmed(before: Date, checkedBefore: Date, limit = 200): Promise<DispatchRow[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT ${ROW} FROM dispatcher_messages
        WHERE closed_at IS NULL AND status IN ('queued', 'sent') AND updated_at < $1
          AND (checked_at IS NULL OR checked_at < $2)
        ORDER BY updated_at LIMIT $3`,
      [before, checkedBefore, limit],
    );
    return rows.map(row);
  }

  /** Records that the carrier was asked about a message (and the events of asking), changing nothing else. */
  async markChecked(current: DispatchRow, at: Date, events: readonly OutgoingRecord[]): Promise<void> {
    await this.#db.query(
      `WITH checked AS (
         UPDATE dispatcher_messages SET checked_at = $3
          WHERE controller_id = $1 AND message_id = $2
          RETURNING 1
       )
       ${outboxInsert(DISPATCHER_OUTBOX, 4, 'EXISTS (SELECT 1 FROM checked)')}`,
      [current.controllerId, current.messageId, at, ...outboxParams([events])],
    );
    if (events.length > 0) this.#wrote();
  }

  /**
   * What a receipt needs in one round trip: whether its dedupe key was applied before, and the
   * message's row (undefined when the message is not ours).
   */
  forReceipt(
    controllerId: string,
    messageId: string,
    dedupeKey: string,
  ): Promise<{ seen: boolean; row: DispatchRow | undefined }> {
    return this.#receiptLookups.run({ controllerId, messageId, dedupeKey });
  }

  async #forReceiptMany(
    items: readonly ReceiptLookup[],
  ): Promise<{ seen: boolean; row: DispatchRow | undefined }[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      // One index probe per receipt into each table, whatever the batch and the history: as plain
      // joins, a large batch on a large table could be planned as a hash join over a full scan.
      `SELECT u.ord, ${M_ROW}, r.seen IS NOT NULL AS receipt_seen
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(controller_id, message_id, dedupe_key, ord)
         LEFT JOIN LATERAL (SELECT ${ROW} FROM dispatcher_messages m
                             WHERE m.controller_id = u.controller_id AND m.message_id = u.message_id LIMIT 1) m ON true
         LEFT JOIN LATERAL (SELECT true AS seen FROM dispatcher_receipts r WHERE r.dedupe_key = u.dedupe_key LIMIT 1) r ON true`,
      [items.map((r) => r.controllerId), items.map((r) => r.messageId), items.map((r) => r.dedupeKey)],
    );
    const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
    return items.map((_, i) => {
      const r = byOrd.get(i + 1);
      return { seen: r?.receipt_seen === true, row: r?.controller_id ? this.#kept(row(r)) : undefined };
    });
  }

  /** Records a receipt's dedupe key; false when it was seen before (a replayed receipt changes nothing). */
  firstReceipt(dedupeKey: string, at: Date): Promise<boolean> {
    return this.#firstReceipts.run({ dedupeKey, at });
  }

  async #firstReceiptMany(items: readonly { dedupeKey: string; at: Date }[]): Promise<boolean[]> {
    const { rows } = await this.#db.query<{ dedupe_key: string }>(
      `INSERT INTO dispatcher_receipts (dedupe_key, received_at)
       SELECT * FROM unnest($1::text[], $2::timestamptz[]) ORDER BY 1 -- key order: two dispatchers' batches cannot deadlock
       ON CONFLICT DO NOTHING RETURNING dedupe_key`,
      [items.map((r) => r.dedupeKey), items.map((r) => r.at)],
    );
    const inserted = new Set(rows.map((r) => r.dedupe_key));
    return items.map((r) => inserted.has(r.dedupeKey));
  }

  /** Parks a verified receipt for the applier; false when the same receipt is already waiting. */
  enqueueReceipt(dedupeKey: string, receipt: unknown, at: Date): Promise<boolean> {
    return this.#enqueues.run({ dedupeKey, receipt, at });
  }

  async #enqueueMany(items: readonly Enqueue[]): Promise<boolean[]> {
    const { rows } = await this.#db.query<{ dedupe_key: string }>(
      // Arrival order, not key order: `arrival` numbers the rows as inserted and the applier follows
      // it. (Two dispatchers inserting the same receipts in another order could deadlock; the
      // coalescer retries a deadlocked statement row by row.)
      `INSERT INTO dispatcher_receipt_inbox (dedupe_key, receipt, received_at)
       SELECT dedupe_key, receipt, received_at
         FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[]) WITH ORDINALITY AS r(dedupe_key, receipt, received_at, ord)
        ORDER BY ord
       ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key`,
      [items.map((r) => r.dedupeKey), items.map((r) => JSON.stringify(r.receipt)), items.map((r) => r.at)],
    );
    const inserted = new Set(rows.map((r) => r.dedupe_key));
    return items.map((r) => inserted.has(r.dedupeKey));
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
    const { rows } = await this.#db.query<{ dedupe_key: string; receipt: unknown; arrival: string }>(
      `UPDATE dispatcher_receipt_inbox SET taken_until = $3
        WHERE dedupe_key IN (
          SELECT dedupe_key FROM dispatcher_receipt_inbox
           WHERE taken_until IS NULL OR taken_until < $2
           ORDER BY arrival LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING dedupe_key, receipt, arrival`,
      [limit, at, new Date(at.getTime() + holdMs)],
    );
    // RETURNING promises no order: receipts are applied in the order they arrived.
    rows.sort((a, b) => Number(a.arrival) - Number(b.arrival));
    return rows.map((r) => ({
      dedupeKey: r.dedupe_key,
      receipt: typeof r.receipt === 'string' ? JSON.parse(r.receipt) : r.receipt,
    }));
  }

  /** Leaves receipts in the inbox, to be taken again after `until` (their apply failed). */
  async holdReceipts(dedupeKeys: readonly string[], until: Date): Promise<void> {
    await this.#db.query('UPDATE dispatcher_receipt_inbox SET taken_until = $2 WHERE dedupe_key = ANY($1)', [
      dedupeKeys,
      until,
    ]);
  }

  /** Removes applied receipts from the inbox. */
  async removeReceipts(dedupeKeys: readonly string[]): Promise<void> {
    if (dedupeKeys.length === 0) return;
    await this.#db.query('DELETE FROM dispatcher_receipt_inbox WHERE dedupe_key = ANY($1)', [dedupeKeys]);
  }
}
