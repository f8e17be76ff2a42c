import type { PrivacyAck } from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';

// SQL of the data-subject requests (migration 0003). Each function takes the transaction it runs in.

type Q = Pick<DbTx, 'query'>;

export type SubjectRequestType = 'access' | 'rectification' | 'erasure' | 'restriction' | 'objection';

export interface SubjectRequestRow {
  readonly id: string;
  readonly controllerId: string;
  readonly type: SubjectRequestType;
  readonly subjectPseudonym: string;
  /** The number, sealed; null once the subject was erased. */
  readonly subject: string | null;
  readonly status: 'pending' | 'completed' | 'failed';
  readonly expected: readonly string[];
  readonly result: Record<string, unknown> | null;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly completedAt: string | null;
  readonly erasedAt: string | null;
}

export interface SubjectAckRow {
  readonly service: string;
  readonly outcome: 'done' | 'failed';
  readonly export: string | null;
  readonly erased: Record<string, number> | null;
  readonly retained: readonly string[] | null;
  readonly reason: string | null;
  readonly receivedAt: string;
}

const iso = (d: unknown) => (d === null || d === undefined ? null : new Date(d as string).toISOString());

function requestRow(r: Record<string, unknown>): SubjectRequestRow {
  return {
    id: r.id as string,
    controllerId: r.controller_id as string,
    type: r.type as SubjectRequestType,
    subjectPseudonym: r.subject_pseudonym as string,
    subject: (r.subject as string | null) ?? null,
    status: r.status as SubjectRequestRow['status'],
    expected: r.expected as string[],
    result: (r.result as Record<string, unknown> | null) ?? null,
    requestedBy: r.requested_by as string,
    requestedAt: iso(r.requested_at)!,
    completedAt: iso(r.completed_at),
    erasedAt: iso(r.erased_at),
  };
}

export const subjectRequests = {
  async insert(
    q: Q,
    row: Omit<SubjectRequestRow, 'completedAt' | 'erasedAt'> & { completedAt?: string | null },
  ): Promise<void> {
    await q.query(
      `INSERT INTO control_subject_requests (id, controller_id, type, subject_pseudonym, subject, status,
         expected, result, requested_by, requested_at, completed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        row.id,
        row.controllerId,
        row.type,
        row.subjectPseudonym,
        row.subject,
        row.status,
        row.expected,
        row.result === null ? null : JSON.stringify(row.result),
        row.requestedBy,
        row.requestedAt,
        row.completedAt ?? null,
      ],
    );
  },

  async get(
    q: Q,
    controllerId: string,
    id: string,
    forUpdate = false,
  ): Promise<SubjectRequestRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_subject_requests WHERE controller_id = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
      [controllerId, id],
    );
    return rows[0] ? requestRow(rows[0]) : undefined;
  },

  /** Every request about one subject of one controller, oldest first. */
  async ofSubject(q: Q, controllerId: string, pseudonym: string): Promise<SubjectRequestRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_subject_requests WHERE controller_id = $1 AND subject_pseudonym = $2
        ORDER BY requested_at, id`,
      [controllerId, pseudonym],
    );
    return rows.map(requestRow);
  },

  /** Every request of one controller, oldest first (a termination's return bundle lists them). */
  async ofController(q: Q, controllerId: string): Promise<SubjectRequestRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_subject_requests WHERE controller_id = $1 ORDER BY requested_at, id',
      [controllerId],
    );
    return rows.map(requestRow);
  },

  /** Stores an acknowledgement once; false when the request is unknown, not pending, or already has it. */
  async addAck(q: Q, ack: PrivacyAck, receivedAt: Date): Promise<boolean> {
    const { rowCount } = await q.query(
      `INSERT INTO control_subject_request_acks (request_id, service, outcome, export, erased, retained, reason, received_at)
       SELECT r.id, $3, $4, $5, $6, $7, $8, $9 FROM control_subject_requests r
        WHERE r.id = $1 AND r.controller_id = $2 AND r.status = 'pending' AND $3 = ANY(r.expected)
       ON CONFLICT (request_id, service) DO NOTHING`,
      [
        ack.requestId,
        ack.controllerId,
        ack.service,
        ack.outcome,
        ack.export ?? null,
        ack.erased ? JSON.stringify(ack.erased) : null,
        ack.retained ?? null,
        ack.reason ?? null,
        receivedAt,
      ],
    );
    return rowCount > 0;
  },

  async acks(q: Q, requestId: string): Promise<SubjectAckRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_subject_request_acks WHERE request_id = $1 ORDER BY service',
      [requestId],
    );
    return rows.map((r) => ({
      service: r.service as string,
      outcome: r.outcome as SubjectAckRow['outcome'],
      export: (r.export as string | null) ?? null,
      erased: (r.erased as Record<string, number> | null) ?? null,
      retained: (r.retained as string[] | null) ?? null,
      reason: (r.reason as string | null) ?? null,
      receivedAt: iso(r.received_at)!,
    }));
  },

  async complete(
    q: Q,
    id: string,
    status: 'completed' | 'failed',
    result: Record<string, unknown>,
    at: Date,
  ): Promise<void> {
    await q.query(
      `UPDATE control_subject_requests SET status = $2, result = $3, completed_at = $4
        WHERE id = $1 AND status = 'pending'`,
      [id, status, JSON.stringify(result), at],
    );
  },

  /**
   * Erases what control holds about a subject: the sealed number of every request and every
   * service's sealed export part. The pseudonymous request records stay (what was asked, when, how
   * it was answered). Returns how many rows lost personal data.
   */
  async eraseSubject(
    q: Q,
    controllerId: string,
    pseudonym: string,
    at: Date,
  ): Promise<Record<string, number>> {
    const requests = await q.query(
      `UPDATE control_subject_requests SET subject = NULL, erased_at = $3
        WHERE controller_id = $1 AND subject_pseudonym = $2 AND subject IS NOT NULL`,
      [controllerId, pseudonym, at],
    );
    const acks = await q.query(
      `UPDATE control_subject_request_acks a SET export = NULL
         FROM control_subject_requests r
        WHERE a.request_id = r.id AND r.controller_id = $1 AND r.subject_pseudonym = $2 AND a.export IS NOT NULL`,
      [controllerId, pseudonym],
    );
    return { control_subject_requests: requests.rowCount, control_subject_request_acks: acks.rowCount };
  },
};
