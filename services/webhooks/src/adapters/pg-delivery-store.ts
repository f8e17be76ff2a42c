import { type Db, type DbTx, StatementCoalescer } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { outboxInsert, outboxParams } from '@massivesms/outbox';

/** A delivery to insert: the derived webhook-id and the encrypted body that every attempt sends. */
export interface NewDelivery {
  readonly webhookId: string;
  readonly endpointId: string;
  readonly controllerId: string;
  readonly messageId: string | null;
  readonly eventType: string;
  readonly body: string;
}

/**
 * A delivery to store: `held` when its endpoint is disabled (stored dead, for a recovery to resend);
 * `traceContext`, the status's `traceparent` while tracing is on.
 */
export type DeliveryToStore = NewDelivery & { readonly held?: string; readonly traceContext?: string };

export type DeliveryState = 'pending' | 'delivered' | 'dead';

/** A stored delivery as the worker and the recovery API see it. */
export interface DeliveryRow extends NewDelivery {
  readonly state: DeliveryState;
  /** Attempts made in all; the log keeps every one. */
  readonly attempts: number;
  /** Attempts made before the last resend or recovery: the retry schedule counts from here. */
  readonly retryFrom: number;
  readonly nextAttemptAt: Date;
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly finishedAt: Date | null;
  /** The `traceparent` its attempts continue, when it was stored with one. */
  readonly traceContext?: string;
}

/** One recorded attempt. */
export interface AttemptRow {
  readonly webhookId: string;
  readonly attempt: number;
  readonly startedAt: Date;
  readonly httpStatus: number | null;
  readonly latencyMs: number;
  readonly errorClass: string | null;
  readonly responseExcerpt: string | null;
  readonly nextAttemptAt: Date | null;
}

export type HealthState = 'healthy' | 'failing' | 'disabled';

export interface EndpointHealth {
  readonly endpointId: string;
  readonly controllerId: string;
  readonly state: HealthState;
  readonly failingSince: Date | null;
  readonly disabledReason: string | null;
  readonly disabledAtRevision: number | null;
}

function delivery(r: Record<string, unknown>): DeliveryRow {
  return {
    webhookId: r.webhook_id as string,
    endpointId: r.endpoint_id as string,
    controllerId: r.controller_id as string,
    messageId: (r.message_id as string | null) ?? null,
    eventType: r.event_type as string,
    body: r.body as string,
    state: r.state as DeliveryState,
    attempts: Number(r.attempts),
    retryFrom: Number(r.retry_from),
    nextAttemptAt: new Date(r.next_attempt_at as string),
    lastError: (r.last_error as string | null) ?? null,
    createdAt: new Date(r.created_at as string),
    finishedAt: r.finished_at ? new Date(r.finished_at as string) : null,
    ...(r.trace_context ? { traceContext: r.trace_context as string } : {}),
  };
}

function attempt(r: Record<string, unknown>): AttemptRow {
  return {
    webhookId: r.webhook_id as string,
    attempt: Number(r.attempt),
    startedAt: new Date(r.started_at as string),
    httpStatus: r.http_status === null ? null : Number(r.http_status),
    latencyMs: Number(r.latency_ms),
    errorClass: (r.error_class as string | null) ?? null,
    responseExcerpt: (r.response_excerpt as string | null) ?? null,
    nextAttemptAt: r.next_attempt_at ? new Date(r.next_attempt_at as string) : null,
  };
}

function health(r: Record<string, unknown>): EndpointHealth {
  return {
    endpointId: r.endpoint_id as string,
    controllerId: r.controller_id as string,
    state: r.state as HealthState,
    failingSince: r.failing_since ? new Date(r.failing_since as string) : null,
    disabledReason: (r.disabled_reason as string | null) ?? null,
    disabledAtRevision: r.disabled_at_revision === null ? null : Number(r.disabled_at_revision),
  };
}

/** The outbox the webhooks service's events go through (migration 0002). */
export const WEBHOOKS_OUTBOX = 'webhooks_outbox';

interface RecordedAttempt {
  readonly owner: string;
  readonly row: AttemptRow;
  readonly next: { state: DeliveryState; nextAttemptAt?: Date; lastError?: string | null };
  readonly at: Date;
  /** Written with the attempt, only if it was recorded (DESIGN §5.0). */
  readonly events: readonly OutgoingRecord[];
}

/** The delivery queue (DESIGN.md §6: `FOR UPDATE SKIP LOCKED` work queue) over webhook_deliveries. */
export class PgDeliveryStore {
  readonly #db: Db;
  // Attempts end concurrently (a worker has many deliveries out): recorded in multi-row statements.
  readonly #attempts: StatementCoalescer<RecordedAttempt, boolean>;
  readonly #wrote: () => void;

  /** `wrote` is told when events were committed to the outbox (it wakes the relay). */
  constructor(db: Db, wrote: () => void = () => {}) {
    this.#wrote = wrote;
    this.#db = db;
    this.#attempts = new StatementCoalescer((items) => this.#recordAttempts(items), {
      key: (a) => a.row.webhookId,
    });
  }

  /**
   * Inserts deliveries, and queues the pending ones, in one statement; ones that exist (a redelivered
   * status) are left alone.
   */
  async insert(deliveries: readonly DeliveryToStore[], at: Date): Promise<number> {
    if (deliveries.length === 0) return 0;
    const column = <K extends keyof NewDelivery>(k: K) => deliveries.map((d) => d[k]);
    const { rows } = await this.#db.query(
      `WITH stored AS (
         INSERT INTO webhook_deliveries (webhook_id, endpoint_id, controller_id, message_id, event_type, body, state,
           attempts, next_attempt_at, created_at, last_error, finished_at, trace_context)
         SELECT d.webhook_id, d.endpoint_id, d.controller_id, d.message_id, d.event_type, d.body,
                CASE WHEN d.held IS NULL THEN 'pending' ELSE 'dead' END, 0, $7, $7, d.held,
                CASE WHEN d.held IS NULL THEN NULL ELSE $7::timestamptz END, d.trace_context
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $8::text[], $9::text[])
             AS d(webhook_id, endpoint_id, controller_id, message_id, event_type, body, held, trace_context)
         ON CONFLICT (webhook_id) DO NOTHING
         RETURNING webhook_id, endpoint_id, state
       ), queued AS (
         INSERT INTO webhook_queue (webhook_id, endpoint_id, first, due)
         SELECT webhook_id, endpoint_id, true, $7 FROM stored WHERE state = 'pending'
       )
       SELECT webhook_id FROM stored`,
      [
        column('webhookId'),
        column('endpointId'),
        column('controllerId'),
        column('messageId'),
        column('eventType'),
        column('body'),
        at,
        deliveries.map((d) => d.held ?? null),
        deliveries.map((d) => d.traceContext ?? null),
      ],
    );
    return rows.length;
  }

  /**
   * Leases due deliveries for one worker. Fair by construction: each endpoint's deliveries are ranked
   * (first attempts before retries, then oldest due), at most `perEndpoint` minus what this worker
   * already has in flight for it are taken, and the pick goes round-robin over endpoints (every
   * endpoint's first before anyone's second). `SKIP LOCKED` keeps concurrent workers off each other's
   * picks; the lease, re-checked by the UPDATE, keeps them off each other's in-flight deliveries.
   * Leases run on the database's clock: `now` (the schedule's clock) may differ between processes, and a
   * skewed clock must never expire another worker's lease early.
   * The due rows are found through webhook_queue (pending deliveries only, kept small: see
   * `vacuumQueue`), so the cost follows what is due and in flight, not how many were ever delivered.
   */
  async lease(options: {
    now: Date;
    owner: string;
    leaseMs: number;
    perEndpoint: number;
    /** Endpoints this worker cannot take more for now, with how many slots are used. */
    busy: ReadonlyMap<string, number>;
    limit: number;
  }): Promise<DeliveryRow[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `WITH busy AS (
         SELECT * FROM unnest($1::text[], $2::int[]) AS b(endpoint_id, used)
       ), ranked AS (
         SELECT q.webhook_id, q.endpoint_id, q.first, q.due,
                row_number() OVER (PARTITION BY q.endpoint_id ORDER BY q.first DESC, q.due, q.webhook_id) AS r
           FROM webhook_queue q
           JOIN webhook_deliveries w ON w.webhook_id = q.webhook_id
          WHERE q.due <= $3 AND w.state = 'pending'
            AND (w.lease_until IS NULL OR w.lease_until < statement_timestamp())
       ), picked AS (
         SELECT d.webhook_id
           FROM webhook_deliveries d
           JOIN ranked ON ranked.webhook_id = d.webhook_id
           LEFT JOIN busy ON busy.endpoint_id = ranked.endpoint_id
          WHERE ranked.r <= $4 - coalesce(busy.used, 0)
          ORDER BY ranked.r, ranked.first DESC, ranked.due
          LIMIT $5
            FOR UPDATE OF d SKIP LOCKED
       )
       UPDATE webhook_deliveries d
          SET lease_owner = $6, lease_until = statement_timestamp() + make_interval(secs => $7::float8 / 1000)
         FROM picked
        WHERE d.webhook_id = picked.webhook_id
          AND d.state = 'pending' AND (d.lease_until IS NULL OR d.lease_until < statement_timestamp())
       RETURNING d.*`,
      [
        [...options.busy.keys()],
        [...options.busy.values()],
        options.now,
        options.perEndpoint,
        options.limit,
        options.owner,
        options.leaseMs,
      ],
    );
    return rows.map(delivery);
  }

  /**
   * Records an attempt and moves the delivery on, if this worker still holds its lease: `pending`
   * again with its next time, `delivered`, or `dead` with the reason. Returns false when the lease
   * was lost (another worker owns the delivery now; its record wins).
   */
  recordAttempt(
    owner: string,
    row: AttemptRow,
    next: { state: DeliveryState; nextAttemptAt?: Date; lastError?: string | null },
    at: Date,
    events: readonly OutgoingRecord[] = [],
  ): Promise<boolean> {
    return this.#attempts.run({ owner, row, next, at, events });
  }

  async #recordAttempts(items: readonly RecordedAttempt[]): Promise<boolean[]> {
    // One statement (atomic on its own): the delivery's update and its attempt row, for many at once.
    const { rows } = await this.#db.query<{ webhook_id: string }>(
      `WITH u AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[],
                              $7::timestamptz[], $8::int[], $9::int[], $10::text[], $11::text[]) WITH ORDINALITY
           AS u(webhook_id, owner, state, next_attempt_at, last_error, at,
                started_at, http_status, latency_ms, error_class, response_excerpt, ord)
       ), updated AS (
         UPDATE webhook_deliveries d
            SET attempts = d.attempts + 1, state = u.state, next_attempt_at = coalesce(u.next_attempt_at, d.next_attempt_at),
                last_error = u.last_error, lease_owner = NULL, lease_until = NULL,
                finished_at = CASE WHEN u.state = 'pending' THEN NULL ELSE u.at END
           FROM u
          WHERE d.webhook_id = u.webhook_id AND d.lease_owner = u.owner AND d.state = 'pending'
          RETURNING d.webhook_id, d.attempts, d.state, d.next_attempt_at
       ), dequeued AS (
         DELETE FROM webhook_queue q USING updated
          WHERE q.webhook_id = updated.webhook_id AND updated.state <> 'pending'
       ), rescheduled AS (
         UPDATE webhook_queue q SET due = updated.next_attempt_at, first = false
           FROM updated
          WHERE q.webhook_id = updated.webhook_id AND updated.state = 'pending'
       ), attempts AS (
         INSERT INTO webhook_attempts (webhook_id, attempt, started_at, http_status, latency_ms, error_class,
                                       response_excerpt, next_attempt_at)
         SELECT u.webhook_id, updated.attempts, u.started_at, u.http_status, u.latency_ms, u.error_class,
                u.response_excerpt, CASE WHEN u.state = 'pending' THEN u.next_attempt_at END
           FROM updated JOIN u USING (webhook_id)
         ON CONFLICT (webhook_id, attempt) DO NOTHING
       ), announced AS (
         ${outboxInsert(WEBHOOKS_OUTBOX, 12, 'e.item IN (SELECT u.ord FROM updated JOIN u USING (webhook_id))')}
       )
       SELECT webhook_id FROM updated`,
      [
        items.map((a) => a.row.webhookId),
        items.map((a) => a.owner),
        items.map((a) => a.next.state),
        items.map((a) => a.next.nextAttemptAt ?? null),
        items.map((a) => a.next.lastError ?? null),
        items.map((a) => a.at),
        items.map((a) => a.row.startedAt),
        items.map((a) => a.row.httpStatus),
        items.map((a) => a.row.latencyMs),
        items.map((a) => a.row.errorClass),
        items.map((a) => a.row.responseExcerpt),
        ...outboxParams(items.map((a) => a.events)),
      ],
    );
    if (rows.length > 0 && items.some((a) => a.events.length > 0)) this.#wrote();
    const recorded = new Set(rows.map((r) => r.webhook_id));
    return items.map((a) => recorded.has(a.row.webhookId));
  }

  /** Ends a leased delivery without an attempt (its endpoint is gone or disabled). */
  async abandon(owner: string, webhookId: string, reason: string, at: Date): Promise<boolean> {
    const { rows } = await this.#db.query(
      `WITH ended AS (
         UPDATE webhook_deliveries SET state = 'dead', last_error = $3, finished_at = $4,
                lease_owner = NULL, lease_until = NULL
          WHERE webhook_id = $1 AND lease_owner = $2 AND state = 'pending' RETURNING webhook_id
       ), dequeued AS (
         DELETE FROM webhook_queue WHERE webhook_id IN (SELECT webhook_id FROM ended)
       )
       SELECT webhook_id FROM ended`,
      [webhookId, owner, reason, at],
    );
    return rows.length > 0;
  }

  /** Gives back leases this worker holds but will not attempt: the listed ones, or all (shutdown). */
  async releaseLeases(owner: string, webhookIds?: readonly string[]): Promise<void> {
    await this.#db.query(
      `UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL
        WHERE lease_owner = $1 AND ($2::text[] IS NULL OR webhook_id = ANY($2))`,
      [owner, webhookIds ?? null],
    );
  }

  async get(webhookId: string): Promise<DeliveryRow | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      'SELECT * FROM webhook_deliveries WHERE webhook_id = $1',
      [webhookId],
    );
    return rows[0] ? delivery(rows[0]) : undefined;
  }

  /** Deliveries of one message (recovery API), oldest first. */
  async forMessage(controllerId: string, messageId: string): Promise<DeliveryRow[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT * FROM webhook_deliveries WHERE controller_id = $1 AND message_id = $2
        ORDER BY created_at, webhook_id`,
      [controllerId, messageId],
    );
    return rows.map(delivery);
  }

  /** Deliveries of one endpoint since a time, newest first (recovery API). */
  async forEndpoint(
    controllerId: string,
    endpointId: string,
    since: Date,
    limit: number,
  ): Promise<DeliveryRow[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `SELECT * FROM webhook_deliveries WHERE controller_id = $4 AND endpoint_id = $1 AND created_at >= $2
        ORDER BY created_at DESC, webhook_id LIMIT $3`,
      [endpointId, since, limit, controllerId],
    );
    return rows.map(delivery);
  }

  async attempts(webhookIds: readonly string[]): Promise<AttemptRow[]> {
    if (webhookIds.length === 0) return [];
    const { rows } = await this.#db.query<Record<string, unknown>>(
      'SELECT * FROM webhook_attempts WHERE webhook_id = ANY($1) ORDER BY webhook_id, attempt',
      [webhookIds],
    );
    return rows.map(attempt);
  }

  /**
   * Puts deliveries back in the queue for one more full schedule: a resend of one delivery, or the
   * recovery of an endpoint since a time: every dead one, and those still waiting for a retry slot
   * (the customer says it works now: they go now, not in up to hours). Same webhook-id: receivers
   * deduplicate.
   */
  /** Requeues; inside `tx` when given (the control plane commits its processing event with it). */
  async requeue(
    where: { webhookId: string } | { controllerId: string; endpointId: string; since: Date },
    at: Date,
    tx: DbTx = this.#db,
  ): Promise<number> {
    const set = `SET state = 'pending', next_attempt_at = $2, last_error = NULL, finished_at = NULL,
                     retry_from = attempts, lease_owner = NULL, lease_until = NULL`;
    // Queued again as first attempts, due now (a delivery waiting for a retry is moved forward).
    const queue = (update: string) =>
      `WITH requeued AS (${update} RETURNING webhook_id, endpoint_id), queued AS (
         INSERT INTO webhook_queue (webhook_id, endpoint_id, first, due)
         SELECT webhook_id, endpoint_id, true, $2 FROM requeued
         ON CONFLICT (webhook_id) DO UPDATE SET first = true, due = excluded.due
       )
       SELECT webhook_id FROM requeued`;
    const { rows } =
      'webhookId' in where
        ? await tx.query(
            queue(`UPDATE webhook_deliveries ${set} WHERE webhook_id = $1 AND state <> 'pending'`),
            [where.webhookId, at],
          )
        : await tx.query(
            queue(`UPDATE webhook_deliveries ${set}
              WHERE controller_id = $4 AND endpoint_id = $1 AND created_at >= $3
                AND (state = 'dead' OR (state = 'pending' AND lease_owner IS NULL AND next_attempt_at > $2))`),
            [where.endpointId, at, where.since, where.controllerId],
          );
    return rows.length;
  }

  /**
   * Vacuums the queue: every delivery leaves a dead queue row behind, and without (auto)vacuum the
   * lease would walk them all. The table only holds pending deliveries, so this costs in proportion
   * to what is in flight plus what ended since the last time, never to the history.
   */
  async vacuumQueue(): Promise<void> {
    await this.#db.query('VACUUM webhook_queue');
  }

  /** Counts for metrics: pending (due or not) and dead deliveries. */
  async depths(): Promise<{ pending: number; dead: number }> {
    const { rows } = await this.#db.query<{ state: string; n: string }>(
      `SELECT state, count(*) AS n FROM webhook_deliveries WHERE state IN ('pending', 'dead') GROUP BY state`,
    );
    const of = (s: string) => Number(rows.find((r) => r.state === s)?.n ?? 0);
    return { pending: of('pending'), dead: of('dead') };
  }

  async health(endpointId: string): Promise<EndpointHealth | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      'SELECT * FROM webhook_endpoint_health WHERE endpoint_id = $1',
      [endpointId],
    );
    return rows[0] ? health(rows[0]) : undefined;
  }

  /** Endpoints that are failing or disabled. */
  async unhealthyEndpoints(): Promise<EndpointHealth[]> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      "SELECT * FROM webhook_endpoint_health WHERE state <> 'healthy'",
    );
    return rows.map(health);
  }

  /**
   * Moves an endpoint's health from `from` to `to` atomically (only one worker wins a transition,
   * so an operational event is emitted once). Returns the new row when this call changed it.
   */
  async transitionHealth(
    endpointId: string,
    controllerId: string,
    from: readonly HealthState[],
    to: { state: HealthState; failingSince?: Date | null; disabledReason?: string; revision?: number },
    at: Date,
  ): Promise<EndpointHealth | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      `INSERT INTO webhook_endpoint_health AS h (endpoint_id, controller_id, state, failing_since, disabled_reason,
         disabled_at_revision, updated_at)
       SELECT $1, $2, $4, $5, $6, $7, $8
        WHERE 'healthy' = ANY($3::text[]) -- no row yet means healthy
           OR EXISTS (SELECT 1 FROM webhook_endpoint_health WHERE endpoint_id = $1)
       ON CONFLICT (endpoint_id) DO UPDATE
         SET state = $4, failing_since = $5, disabled_reason = $6, disabled_at_revision = $7, updated_at = $8
       WHERE h.state = ANY($3::text[])
       RETURNING h.*`,
      [
        endpointId,
        controllerId,
        from,
        to.state,
        to.failingSince ?? null,
        to.disabledReason ?? null,
        to.revision ?? null,
        at,
      ],
    );
    return rows[0] ? health(rows[0]) : undefined;
  }
}
