import { randomUUID } from 'node:crypto';
import {
  type Cell,
  type EndpointState,
  type EndpointWebhook,
  encodeJson,
  eventIdFor,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { type ControllerKeys, DecryptionFailedError, decryptField, encryptField } from '@massivesms/privacy';
import { traceContextOf, withTraceOf } from '@massivesms/telemetry';
import type { HttpSender } from '../adapters/http-sender.ts';
import type { DeliveryRow, EndpointHealth, PgDeliveryStore } from '../adapters/pg-delivery-store.ts';
import { judgeAttempt } from '../domain/outcome.ts';
import { webhookIdFor } from '../domain/payload.ts';
import { nextAttemptDelay, RETRY_SCHEDULE_MS } from '../domain/schedule.ts';
import { signedHeaders } from '../domain/signing.ts';
import { signingKeys } from './endpoints.ts';
import { bodyContext } from './intake.ts';
import { Wakeup } from './wakeup.ts';

export interface WorkerOptions {
  /** Deliveries in flight per endpoint in this process (the fairness bound). */
  readonly perEndpointConcurrency: number;
  /** Attempts per second per endpoint in this process. */
  readonly perEndpointRatePerSecond: number;
  /** Deliveries in flight in this process. */
  readonly maxInFlight: number;
  /** Bound on one attempt (the lease is longer, so a live attempt never loses it). */
  readonly attemptTimeoutMs: number;
  /**
   * Bound on the wait between two looks at the queue when nothing wakes the worker (retries coming
   * due, deliveries stored by other processes, expired leases). Stored deliveries, freed slots and
   * stop() wake it at once.
   */
  readonly pollMs: number;
  /** Continuous failure after which an endpoint is disabled. */
  readonly disableAfterMs: number;
  /** A receiver's `Retry-After` up to this delays the next attempt; default MAX_RETRY_AFTER_MS (1 h). */
  readonly maxRetryAfterMs?: number;
  /** Deliveries this worker ends between two vacuums of the queue table (default 5,000). */
  readonly queueVacuumEvery?: number;
}

export interface WorkerDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly store: PgDeliveryStore;
  readonly sender: HttpSender;
  readonly endpoints: {
    get(endpointId: string): EndpointState | undefined;
    ofController(controllerId: string): EndpointState[];
  };
  readonly keys: (controllerId: string) => Promise<ControllerKeys | undefined>;
  readonly health: EndpointHealthCache;
  readonly now: () => Date;
  readonly onAttempt?: (attempt: {
    outcome: 'delivered' | 'retry' | 'dead';
    errorClass: string | undefined;
    latencyMs: number;
    /** From the delivery being stored to this attempt's end (the delivery lag, when delivered). */
    ageMs: number;
  }) => void;
  readonly onError?: (error: unknown) => void;
}

/**
 * What this process knows of endpoint health (its own transitions, and every process's through a
 * periodic refresh): which endpoints are disabled (410, continuous failure) until the customer
 * changes them, and which are not healthy — only those need a recovery check after a success, so a
 * healthy endpoint's delivery costs no health query.
 */
export class EndpointHealthCache {
  readonly #disabledAt = new Map<string, number>();
  readonly #unhealthy = new Set<string>();
  /** Disabled unless the control plane published a newer revision (re-enabled, new URL) since. */
  isDisabled(endpointId: string, revision: number): boolean {
    const at = this.#disabledAt.get(endpointId);
    return at !== undefined && revision <= at;
  }
  mayBeUnhealthy(endpointId: string): boolean {
    return this.#unhealthy.has(endpointId);
  }
  /** Replaces the cache with the stored rows of every endpoint that is not healthy. */
  set(health: readonly EndpointHealth[]): void {
    this.#disabledAt.clear();
    this.#unhealthy.clear();
    for (const h of health) {
      this.#unhealthy.add(h.endpointId);
      if (h.state === 'disabled') this.#disabledAt.set(h.endpointId, h.disabledAtRevision ?? 0);
    }
  }
  failing(endpointId: string): void {
    this.#unhealthy.add(endpointId);
  }
  disabled(endpointId: string, revision: number): void {
    this.#unhealthy.add(endpointId);
    this.#disabledAt.set(endpointId, revision);
  }
  healthy(endpointId: string): void {
    this.#unhealthy.delete(endpointId);
    this.#disabledAt.delete(endpointId);
  }
}

/** How long stop() lets attempts in flight finish before cutting them short. */
const STOP_GRACE_MS = 3_000;

/**
 * Deliveries ended between two vacuums of webhook_queue: each leaves a dead queue row, which the
 * lease would otherwise walk on a server without autovacuum. A vacuum then covers a few thousand
 * small rows (milliseconds), a few microseconds per delivery.
 */
const QUEUE_VACUUM_EVERY = 5_000;

/** The value, or undefined when it failed to decrypt (any other error is thrown on). */
function unlessUndecryptable<T>(decrypt: () => T): T | undefined {
  try {
    return decrypt();
  } catch (error) {
    if (error instanceof DecryptionFailedError) return undefined;
    throw error;
  }
}

/** A running delivery worker. */
export interface DeliveryWorker {
  /** Looks at the queue now (new deliveries were stored, or a test moved the clock). */
  wake(): void;
  /** Resolves when nothing is in flight. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Leases due deliveries (fairly: see PgDeliveryStore.lease), attempts each one, records the attempt
 * and its next step, and keeps endpoint health. Several processes can run it side by side: leases
 * keep a delivery with one of them at a time.
 */
export function startDeliveryWorker(deps: WorkerDeps, options: WorkerOptions): DeliveryWorker {
  const owner = `webhooks-${randomUUID()}`;
  const inFlight = new Map<string, number>();
  let total = 0;
  let running = true;
  const wakeup = new Wakeup();
  // Endpoints whose share the last lease could not fully take (its per-endpoint bound held some of
  // their due deliveries back): a slot they free is worth another look at once.
  let capped = new Set<string>();
  let ended = 0;
  let vacuuming: Promise<void> | undefined;
  /** Counts deliveries that left the queue; every `queueVacuumEvery` of them, vacuums it (one at a time). */
  function leftQueue(): void {
    ended++;
    if (ended < (options.queueVacuumEvery ?? QUEUE_VACUUM_EVERY) || vacuuming) return;
    ended = 0;
    vacuuming = deps.store
      .vacuumQueue()
      .catch((error: unknown) => deps.onError?.(error))
      .finally(() => {
        vacuuming = undefined;
      });
  }
  // Aborted when stop() has waited STOP_GRACE_MS for the attempts in flight: cuts the rest short.
  const stopping = new AbortController();
  let idleWaiters: (() => void)[] = [];
  const buckets = new Map<string, { tokens: number; at: number }>();
  // Longer than any live attempt (bounded by the attempt timeout) plus recording it.
  const leaseMs = options.attemptTimeoutMs + 10_000;

  /** Takes one token of the endpoint's bucket, or says it is empty (the endpoint waits). */
  function takeToken(endpointId: string): boolean {
    const rate = options.perEndpointRatePerSecond;
    const nowMs = performance.now();
    const bucket = buckets.get(endpointId) ?? { tokens: rate, at: nowMs };
    bucket.tokens = Math.min(rate, bucket.tokens + ((nowMs - bucket.at) / 1000) * rate);
    bucket.at = nowMs;
    buckets.set(endpointId, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
  const throttled = (endpointId: string) => {
    const bucket = buckets.get(endpointId);
    if (!bucket) return false;
    const tokens =
      bucket.tokens + ((performance.now() - bucket.at) / 1000) * options.perEndpointRatePerSecond;
    return tokens < 1;
  };

  async function loop(): Promise<void> {
    while (running) {
      const free = options.maxInFlight - total;
      let leased: DeliveryRow[] = [];
      let anyThrottled = false;
      // This look covers every wake so far; one that comes while it runs makes the next one start at once.
      wakeup.clear();
      if (free > 0) {
        const busy = new Map(inFlight);
        for (const endpointId of buckets.keys())
          if (throttled(endpointId)) {
            busy.set(endpointId, options.perEndpointConcurrency);
            anyThrottled = true;
          }
        try {
          leased = await deps.store.lease({
            now: deps.now(),
            owner,
            leaseMs,
            perEndpoint: options.perEndpointConcurrency,
            busy,
            limit: free,
          });
        } catch (error) {
          deps.onError?.(error);
        }
        // What each endpoint held when the lease ran, plus what it took.
        const taken = new Map(busy);
        for (const row of leased) taken.set(row.endpointId, (taken.get(row.endpointId) ?? 0) + 1);
        capped = new Set(
          [...taken].filter(([, n]) => n >= options.perEndpointConcurrency).map(([endpointId]) => endpointId),
        );
      }
      const throttledRows = leased.filter((row) => !takeToken(row.endpointId));
      if (throttledRows.length > 0)
        // Over the endpoint's rate since the lease was taken: give them back for a later pass.
        await deps.store
          .releaseLeases(
            owner,
            throttledRows.map((r) => r.webhookId),
          )
          .catch(deps.onError);
      for (const row of leased) {
        if (throttledRows.includes(row)) continue;
        inFlight.set(row.endpointId, (inFlight.get(row.endpointId) ?? 0) + 1);
        total++;
        let dueSoon = false;
        void attempt(row)
          .then((next) => {
            dueSoon = next === 'due soon';
          })
          .catch((error: unknown) => deps.onError?.(error))
          .finally(() => {
            const held = capped.has(row.endpointId);
            const full = total >= options.maxInFlight;
            const n = (inFlight.get(row.endpointId) ?? 1) - 1;
            if (n === 0) inFlight.delete(row.endpointId);
            else inFlight.set(row.endpointId, n);
            total--;
            if (total === 0) {
              for (const resolve of idleWaiters) resolve();
              idleWaiters = [];
            }
            // A freed slot only matters where a bound held deliveries back (otherwise the last lease
            // took everything due); a retry due before the next poll must not wait for it.
            if (held || full || dueSoon) wakeup.wake();
          });
      }
      if (!running) break;
      if (leased.length === 0 || leased.length < free)
        // A throttled endpoint gets a token back within 1/rate s: look again then, not at the next poll.
        await wakeup.wait(
          anyThrottled || throttledRows.length > 0
            ? Math.min(options.pollMs, Math.ceil(1000 / options.perEndpointRatePerSecond))
            : options.pollMs,
        );
    }
  }

  /** Ends a leased delivery without an attempt, and counts it out of the queue. */
  async function abandon(row: DeliveryRow, reason: string, at: Date): Promise<boolean> {
    const done = await deps.store.abandon(owner, row.webhookId, reason, at);
    if (done) leftQueue();
    return done;
  }

  /** One attempt of a leased delivery; says whether its next attempt is due before the next poll. */
  async function attempt(row: DeliveryRow): Promise<'due soon' | undefined> {
    const now = deps.now();
    const endpoint = deps.endpoints.get(row.endpointId);
    if (!endpoint) {
      await abandon(row, 'endpoint deleted', now);
      return;
    }
    if (!endpoint.enabled || deps.health.isDisabled(endpoint.endpointId, endpoint.revision)) {
      await abandon(row, 'endpoint disabled', now);
      return;
    }
    const keys = await deps.keys(row.controllerId);
    if (!keys) {
      await abandon(row, 'controller terminated', now);
      return;
    }
    // A body or secret that does not decrypt (tampered, or sealed for another record or key) fails
    // the same way on every attempt: dead-letter it with the reason instead of retrying forever.
    const body = unlessUndecryptable(() =>
      decryptField(keys.dataKey, row.body, bodyContext(row.controllerId, row.webhookId)),
    );
    if (body === undefined) return deadLetterUnreadable(row, 'stored body cannot be decrypted', now);
    const secrets = unlessUndecryptable(() => signingKeys(endpoint, keys, now));
    if (secrets === undefined)
      return deadLetterUnreadable(
        row,
        `signing secret of endpoint revision ${endpoint.revision} cannot be decrypted`,
        now,
      );
    // Re-signed on every attempt: fresh timestamp, the secrets valid now (both during a rotation).
    const headers = signedHeaders(secrets, row.webhookId, now, body);
    const result = await withTraceOf(traceOf(row), () =>
      deps.sender.post(endpoint.endpointId, endpoint.url, headers, body, stopping.signal),
    );
    // Cut short by stop(): not the endpoint's failure, so nothing is recorded (no attempt counted, no
    // health change). stop() releases the lease: the next process retries now, same webhook-id.
    if (result.error === 'aborted') return;
    const verdict = judgeAttempt(result);
    const done = deps.now();
    const attemptNumber = row.attempts + 1;
    let next: { state: 'pending' | 'delivered' | 'dead'; nextAttemptAt?: Date; lastError?: string };
    if (verdict.kind === 'delivered') next = { state: 'delivered' };
    else if (verdict.kind === 'gone')
      next = { state: 'dead', lastError: 'endpoint answered 410 Gone: disabled' };
    else {
      // A stored due time, not a sleep: the delivery waits in the table, nothing holds it in memory.
      const delay = nextAttemptDelay(attemptNumber - row.retryFrom, {
        retryAfterSeconds: result.retryAfterSeconds,
        ...(options.maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs: options.maxRetryAfterMs }),
      });
      const what = result.status ? `HTTP ${result.status}` : verdict.errorClass;
      next =
        delay === undefined
          ? {
              state: 'dead',
              lastError: `gave up after ${RETRY_SCHEDULE_MS.length} attempts; last: ${what}`,
            }
          : { state: 'pending', nextAttemptAt: new Date(done.getTime() + delay), lastError: what };
    }
    // The attempt's processing event is stored with the attempt (DESIGN §5.0): one per attempt, its
    // id derived from the delivery and the attempt number.
    const audit = processingRecord(deps, row, body, verdict.kind, result.status, done, attemptNumber);
    const recorded = await deps.store.recordAttempt(
      owner,
      {
        webhookId: row.webhookId,
        attempt: attemptNumber,
        startedAt: now,
        httpStatus: result.status ?? null,
        latencyMs: result.latencyMs,
        errorClass: verdict.kind === 'failed' ? verdict.errorClass : verdict.kind === 'gone' ? 'gone' : null,
        responseExcerpt: result.responseExcerpt ?? null,
        nextAttemptAt: next.nextAttemptAt ?? null,
      },
      next,
      done,
      [audit],
    );
    if (!recorded) return; // the lease ran out and another worker took over: its record stands
    if (next.state !== 'pending') leftQueue();
    deps.onAttempt?.({
      outcome: next.state === 'delivered' ? 'delivered' : next.state === 'dead' ? 'dead' : 'retry',
      errorClass: verdict.kind === 'failed' ? verdict.errorClass : undefined,
      latencyMs: result.latencyMs,
      ageMs: done.getTime() - row.createdAt.getTime(),
    });
    await updateHealth(row, endpoint, verdict.kind, done);
    if (next.nextAttemptAt && next.nextAttemptAt.getTime() - deps.now().getTime() < options.pollMs)
      return 'due soon';
  }

  async function deadLetterUnreadable(row: DeliveryRow, reason: string, at: Date): Promise<undefined> {
    // The controller may have been terminated meanwhile (its keys destroyed): say so, not "tampered".
    if (!(await deps.keys(row.controllerId))) {
      await abandon(row, 'controller terminated', at);
      return;
    }
    if (await abandon(row, reason, at))
      deps.onError?.(new Error(`delivery ${row.webhookId} dead-lettered: ${reason}`));
  }

  /** Endpoint health: failing from the first failure, disabled after a long failure or a 410, recovered on success. */
  async function updateHealth(
    row: DeliveryRow,
    endpoint: EndpointState,
    verdict: 'delivered' | 'gone' | 'failed',
    at: Date,
  ): Promise<void> {
    const { store } = deps;
    if (verdict === 'delivered') {
      if (!deps.health.mayBeUnhealthy(endpoint.endpointId)) return;
      const recovered = await store.transitionHealth(
        endpoint.endpointId,
        row.controllerId,
        ['failing', 'disabled'],
        { state: 'healthy' },
        at,
      );
      deps.health.healthy(endpoint.endpointId);
      if (recovered) {
        await operationalEvent('endpoint.recovered', endpoint, recovered, at);
      }
      return;
    }
    if (verdict === 'gone') {
      const disabled = await store.transitionHealth(
        endpoint.endpointId,
        row.controllerId,
        ['healthy', 'failing'],
        { state: 'disabled', disabledReason: 'gone', revision: endpoint.revision },
        at,
      );
      if (disabled) await disable(endpoint, disabled, at);
      return;
    }
    deps.health.failing(endpoint.endpointId);
    const failing = await store.transitionHealth(
      endpoint.endpointId,
      row.controllerId,
      ['healthy'],
      { state: 'failing', failingSince: at },
      at,
    );
    if (failing) {
      await operationalEvent('endpoint.failing', endpoint, failing, at);
      return;
    }
    const health = await store.health(endpoint.endpointId);
    if (
      health?.state === 'failing' &&
      health.failingSince &&
      at.getTime() - health.failingSince.getTime() >= options.disableAfterMs
    ) {
      const disabled = await store.transitionHealth(
        endpoint.endpointId,
        row.controllerId,
        ['failing'],
        {
          state: 'disabled',
          failingSince: health.failingSince,
          disabledReason: 'continuous_failure',
          revision: endpoint.revision,
        },
        at,
      );
      if (disabled) await disable(endpoint, disabled, at);
    }
  }

  async function disable(endpoint: EndpointState, health: EndpointHealth, at: Date): Promise<void> {
    deps.health.disabled(endpoint.endpointId, endpoint.revision);
    await operationalEvent('endpoint.disabled', endpoint, health, at);
  }

  /** Tells the controller through its other endpoints that subscribe to the event and are not failing. */
  async function operationalEvent(
    type: 'endpoint.failing' | 'endpoint.disabled' | 'endpoint.recovered',
    endpoint: EndpointState,
    health: EndpointHealth,
    at: Date,
  ): Promise<void> {
    const others = deps.endpoints
      .ofController(endpoint.controllerId)
      .filter((e) => e.endpointId !== endpoint.endpointId && (e.eventTypes as string[]).includes(type));
    if (others.length === 0) return;
    const healthy: EndpointState[] = [];
    for (const other of others) {
      const h = await deps.store.health(other.endpointId);
      if (!h || h.state === 'healthy') healthy.push(other);
    }
    const keys = await deps.keys(endpoint.controllerId);
    if (!keys || healthy.length === 0) return;
    const body = JSON.stringify({
      type,
      timestamp: at.toISOString(),
      data: {
        endpointId: endpoint.endpointId,
        url: endpoint.url,
        ...(health.failingSince ? { failingSince: health.failingSince.toISOString() } : {}),
        ...(health.disabledReason ? { reason: health.disabledReason as 'gone' | 'continuous_failure' } : {}),
      },
    } satisfies EndpointWebhook);
    // Derived ids: the same transition, reported twice, is one delivery.
    const source = `${type}:${endpoint.endpointId}:${at.toISOString()}`;
    await deps.store.insert(
      healthy.map((target) => {
        const webhookId = webhookIdFor(source, target.endpointId);
        return {
          webhookId,
          endpointId: target.endpointId,
          controllerId: endpoint.controllerId,
          messageId: null,
          eventType: type,
          body: encryptField(keys.dataKey, body, bodyContext(endpoint.controllerId, webhookId)),
        };
      }),
      at,
    );
    wakeup.wake();
  }

  const finished = loop();
  return {
    wake: () => wakeup.wake(),
    idle: () => (total === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    async stop() {
      running = false;
      wakeup.wake();
      await finished;
      if (total > 0) {
        const drained = new Promise<void>((resolve) => idleWaiters.push(resolve));
        // A hanging endpoint must not hold the shutdown for a whole attempt timeout (up to 60 s).
        const grace = setTimeout(() => stopping.abort(), STOP_GRACE_MS);
        await drained;
        clearTimeout(grace);
      }
      await deps.store.releaseLeases(owner);
      await vacuuming;
    },
  };
}

/** The trace context a delivery's attempt continues (its status's), if it was stored with one. */
function traceOf(row: DeliveryRow): { readonly traceparent: string } | undefined {
  return row.traceContext ? { traceparent: row.traceContext } : undefined;
}

/** The status left the processor for the controller's own endpoint (DPA: every operation is logged). */
function processingRecord(
  deps: WorkerDeps,
  row: DeliveryRow,
  body: string,
  verdict: 'delivered' | 'gone' | 'failed',
  status: number | undefined,
  at: Date,
  attempt: number,
) {
  const carriesNumber = (JSON.parse(body) as { data?: { to?: unknown } }).data?.to !== undefined;
  const event: ProcessingEvent = {
    eventId: eventIdFor('webhooks', 'webhook.deliver', row.webhookId, attempt),
    occurredAt: at.toISOString(),
    service: 'webhooks',
    operation: 'webhook.deliver',
    controllerId: row.controllerId,
    ...(row.messageId ? { messageId: row.messageId } : {}),
    dataCategories: carriesNumber ? ['user.contact.phone_number'] : [],
    region: deps.cell,
    outcome: verdict === 'delivered' ? 'performed' : 'failed',
    reason: `${row.eventType} to endpoint ${row.endpointId}${status ? `: HTTP ${status}` : ''}`,
  };
  return {
    topic: topicFor(deps.cell, 'audit.processing.v1', deps.namespace),
    key: row.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: {
      region: deps.cell,
      controller: row.controllerId,
      schema: 'audit.processing.v1',
      ...traceContextOf(traceOf(row)),
    },
  };
}
