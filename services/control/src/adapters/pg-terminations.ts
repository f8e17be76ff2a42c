import type { PrivacyAck } from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';

type Q = Pick<DbTx, 'query'>;

export type TerminationStatus = 'grace' | 'deleting' | 'completed' | 'failed';

/** A controller's termination as stored (times as ISO 8601 text). */
export interface TerminationRow {
  readonly controllerId: string;
  readonly requestId: string;
  readonly status: TerminationStatus;
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly deleteAfter: string;
  readonly expected: readonly string[];
  readonly deletionStartedAt: string | null;
  readonly completedAt: string | null;
  readonly certificate: Record<string, unknown> | null;
  readonly certificateSha256: string | null;
}

/** One service's answer to a termination's deletion command. */
export interface TerminationAckRow {
  readonly service: string;
  readonly outcome: 'done' | 'failed';
  readonly erased: Record<string, number> | null;
  readonly retained: readonly string[] | null;
  readonly reason: string | null;
  readonly receivedAt: string;
}

const iso = (d: unknown) => (d === null || d === undefined ? null : new Date(d as string).toISOString());

function toRow(r: Record<string, unknown>): TerminationRow {
  return {
    controllerId: r.controller_id as string,
    requestId: r.request_id as string,
    status: r.status as TerminationStatus,
    requestedBy: r.requested_by as string,
    requestedAt: iso(r.requested_at)!,
    deleteAfter: iso(r.delete_after)!,
    expected: r.expected as string[],
    deletionStartedAt: iso(r.deletion_started_at),
    completedAt: iso(r.completed_at),
    certificate: (r.certificate as Record<string, unknown> | null) ?? null,
    certificateSha256: (r.certificate_sha256 as string | null) ?? null,
  };
}

/** control_terminations and control_termination_acks, and what a completed deletion clears in control. */
export const terminations = {
  async insert(
    q: Q,
    row: Pick<
      TerminationRow,
      'controllerId' | 'requestId' | 'requestedBy' | 'requestedAt' | 'deleteAfter' | 'expected'
    >,
  ): Promise<boolean> {
    const { rowCount } = await q.query(
      `INSERT INTO control_terminations
         (controller_id, request_id, status, requested_by, requested_at, delete_after, expected)
       VALUES ($1, $2, 'grace', $3, $4, $5, $6) ON CONFLICT (controller_id) DO NOTHING`,
      [row.controllerId, row.requestId, row.requestedBy, row.requestedAt, row.deleteAfter, row.expected],
    );
    return rowCount === 1;
  },

  async get(q: Q, controllerId: string, forUpdate = false): Promise<TerminationRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_terminations WHERE controller_id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [controllerId],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  },

  async byRequest(q: Q, requestId: string, forUpdate = false): Promise<TerminationRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_terminations WHERE request_id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [requestId],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  },

  /** Terminations whose grace period ended, locked; another control instance skips them. */
  async due(q: Q, now: Date, limit: number): Promise<TerminationRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_terminations WHERE status = 'grace' AND delete_after <= $1
        ORDER BY delete_after LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [now, limit],
    );
    return rows.map(toRow);
  },

  /** Starts (or restarts, after a failure) the deletion under a new command id. */
  async startDeletion(
    q: Q,
    controllerId: string,
    requestId: string,
    expected: readonly string[],
    at: Date,
  ): Promise<void> {
    await q.query(
      `UPDATE control_terminations SET status = 'deleting', request_id = $2, expected = $3,
              deletion_started_at = $4 WHERE controller_id = $1`,
      [controllerId, requestId, expected, at],
    );
  },

  async addAck(q: Q, ack: PrivacyAck, at: Date): Promise<boolean> {
    const { rowCount } = await q.query(
      `INSERT INTO control_termination_acks (request_id, service, outcome, erased, retained, reason, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [
        ack.requestId,
        ack.service,
        ack.outcome,
        ack.erased ? JSON.stringify(ack.erased) : null,
        ack.retained ?? null,
        ack.reason ?? null,
        at,
      ],
    );
    return rowCount === 1;
  },

  async acks(q: Q, requestId: string): Promise<TerminationAckRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_termination_acks WHERE request_id = $1 ORDER BY service',
      [requestId],
    );
    return rows.map((r) => ({
      service: r.service as string,
      outcome: r.outcome as 'done' | 'failed',
      erased: (r.erased as Record<string, number> | null) ?? null,
      retained: (r.retained as string[] | null) ?? null,
      reason: (r.reason as string | null) ?? null,
      receivedAt: iso(r.received_at)!,
    }));
  },

  async finish(
    q: Q,
    controllerId: string,
    status: 'completed' | 'failed',
    at: Date,
    certificate: { readonly body: Record<string, unknown>; readonly sha256: string } | null,
  ): Promise<void> {
    await q.query(
      `UPDATE control_terminations SET status = $2, completed_at = $3, certificate = $4, certificate_sha256 = $5
        WHERE controller_id = $1`,
      [
        controllerId,
        status,
        at,
        certificate ? JSON.stringify(certificate.body) : null,
        certificate?.sha256 ?? null,
      ],
    );
  },

  /**
   * Control's own deletion for a terminated controller: the sealed numbers and export parts of its
   * data-subject requests, its endpoints and their (sealed) secrets. What stays names nobody: which
   * requests were made and how they were answered, the instructions, the tokens' hashes.
   */
  async eraseController(q: Q, controllerId: string, at: Date): Promise<Record<string, number>> {
    const requests = await q.query(
      `UPDATE control_subject_requests SET subject = NULL, erased_at = COALESCE(erased_at, $2)
        WHERE controller_id = $1 AND subject IS NOT NULL`,
      [controllerId, at],
    );
    const acks = await q.query(
      `UPDATE control_subject_request_acks a SET export = NULL FROM control_subject_requests r
        WHERE a.request_id = r.id AND r.controller_id = $1 AND a.export IS NOT NULL`,
      [controllerId],
    );
    const secrets = await q.query(
      `DELETE FROM control_endpoint_secrets WHERE endpoint_id IN
         (SELECT id FROM control_endpoints WHERE controller_id = $1)`,
      [controllerId],
    );
    const endpoints = await q.query('DELETE FROM control_endpoints WHERE controller_id = $1', [controllerId]);
    return {
      control_subject_requests: requests.rowCount ?? 0,
      control_subject_request_acks: acks.rowCount ?? 0,
      control_endpoint_secrets: secrets.rowCount ?? 0,
      control_endpoints: endpoints.rowCount ?? 0,
    };
  },

  /** Destroys the wrapped data key for good; the pseudonym key stays for the retained opt-outs. */
  async destroyDataKey(q: Q, controllerId: string, at: Date): Promise<void> {
    await q.query(
      `UPDATE control_controller_keys SET data_key_wrapped = NULL, destroyed_at = COALESCE(destroyed_at, $2)
        WHERE controller_id = $1`,
      [controllerId, at],
    );
  },
};
