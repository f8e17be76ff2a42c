// Recovery of webhook deliveries, for the control plane's API (same cell database): list what was
// attempted, resend one delivery, recover every dead delivery of an endpoint since a time.
import type { Db, DbTx } from '@massivesms/db';
import { type AttemptRow, type DeliveryRow, PgDeliveryStore } from './adapters/pg-delivery-store.ts';

/** A delivery as the API shows it: no body (it may hold the recipient's number), every attempt. */
export interface DeliveryView {
  readonly webhookId: string;
  readonly endpointId: string;
  readonly messageId: string | null;
  readonly eventType: string;
  readonly state: DeliveryRow['state'];
  readonly attempts: readonly Omit<AttemptRow, 'webhookId'>[];
  readonly nextAttemptAt: string | null;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
}

export class WebhookRecovery {
  readonly #store: PgDeliveryStore;
  readonly #now: () => Date;

  constructor(db: Db, now: () => Date = () => new Date()) {
    this.#store = new PgDeliveryStore(db);
    this.#now = now;
  }

  /** Deliveries of one message of the controller, with their attempts. */
  async forMessage(controllerId: string, messageId: string): Promise<DeliveryView[]> {
    return this.#views(await this.#store.forMessage(controllerId, messageId));
  }

  /** Deliveries of one of the controller's endpoints since a time, newest first. */
  async forEndpoint(
    controllerId: string,
    endpointId: string,
    since: Date,
    limit = 100,
  ): Promise<DeliveryView[]> {
    return this.#views(await this.#store.forEndpoint(controllerId, endpointId, since, limit));
  }

  /** One delivery of the controller, with its attempts (undefined for an unknown or another's). */
  async delivery(controllerId: string, webhookId: string): Promise<DeliveryView | undefined> {
    const row = await this.#store.get(webhookId);
    if (!row || row.controllerId !== controllerId) return undefined;
    return (await this.#views([row]))[0];
  }

  /**
   * Why this service disabled the endpoint (`gone`: it answered 410; otherwise continuous failure),
   * when it did so at `revision` or later: deliveries to it are dead-lettered until the control plane
   * publishes a newer revision (the customer updated or re-enabled it). Undefined when it is not.
   */
  async disabledReason(endpointId: string, revision: number): Promise<string | undefined> {
    const health = await this.#store.health(endpointId);
    if (health?.state !== 'disabled' || (health.disabledAtRevision ?? 0) < revision) return undefined;
    return health.disabledReason ?? 'unknown';
  }

  /**
   * Queues one delivery of the controller again with a fresh schedule (same webhook-id, so the
   * receiver can deduplicate). `not_found` for another controller's delivery; `pending` when it is
   * still in the queue. Inside `tx` when given, so the caller's record of it commits with it.
   */
  async resend(
    controllerId: string,
    webhookId: string,
    tx?: DbTx,
  ): Promise<'queued' | 'pending' | 'not_found'> {
    const row = await this.#store.get(webhookId);
    if (!row || row.controllerId !== controllerId) return 'not_found';
    if (row.state === 'pending') return 'pending';
    return (await this.#store.requeue({ webhookId }, this.#now(), tx)) > 0 ? 'queued' : 'pending';
  }

  /**
   * Queues again every dead delivery of the endpoint created since `since`, and brings forward those
   * waiting for a retry; returns how many. Inside `tx` when given.
   */
  async recover(controllerId: string, endpointId: string, since: Date, tx?: DbTx): Promise<number> {
    return this.#store.requeue({ controllerId, endpointId, since }, this.#now(), tx);
  }

  async #views(rows: readonly DeliveryRow[]): Promise<DeliveryView[]> {
    const attempts = await this.#store.attempts(rows.map((r) => r.webhookId));
    return rows.map((r) => ({
      webhookId: r.webhookId,
      endpointId: r.endpointId,
      messageId: r.messageId,
      eventType: r.eventType,
      state: r.state,
      attempts: attempts.filter((a) => a.webhookId === r.webhookId).map(({ webhookId: _, ...a }) => a),
      nextAttemptAt: r.state === 'pending' ? r.nextAttemptAt.toISOString() : null,
      lastError: r.lastError,
      createdAt: r.createdAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
    }));
  }
}
