import { fileURLToPath } from 'node:url';
import {
  type Cell,
  consumerGroup,
  privacyRequestConsumer,
  type StatusEvent,
  topicFor,
} from '@massivesms/contracts';
import { type Db, migrate } from '@massivesms/db';
import { purgeExpired, startControllerDirectory, topicRetentionMs } from '@massivesms/directory';
import {
  type ConsumerHandle,
  type DecodedRecord,
  type MessageBus,
  startPeriodic,
} from '@massivesms/messaging';
import { outboxMetrics, retentionMetrics } from '@massivesms/metrics';
import { type OutboxRelay, startOutboxRelay } from '@massivesms/outbox';
import type { Kms } from '@massivesms/privacy';
import type { SsrfPolicy } from '@massivesms/ssrf';
import type { Logger } from '@massivesms/telemetry';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createHttpSender } from './adapters/http-sender.ts';
import { PgCommandStore } from './adapters/pg-commands.ts';
import { PgDeliveryStore, WEBHOOKS_OUTBOX } from './adapters/pg-delivery-store.ts';
import { pgWebhooksRetention } from './adapters/pg-retention.ts';
import { pgWebhooksSubjectStore } from './adapters/pg-subject-requests.ts';
import { startEndpointDirectory } from './application/endpoints.ts';
import { decodeStatusRecord, intakeStatuses } from './application/intake.ts';
import { answerWebhooksSubjectRequest } from './application/subject-requests.ts';
import { EndpointHealthCache, startDeliveryWorker, type WorkerOptions } from './application/worker.ts';
import { startWebhookCommands } from './commands.ts';

/** Folder of the webhooks service's migrations (`massivesms migrate` applies them too). */
export const webhooksMigrations = {
  service: 'webhooks',
  dir: fileURLToPath(new URL('../migrations/', import.meta.url)),
};

export interface WebhooksOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly kms: Kms;
  readonly log: Logger;
  readonly namespace?: string;
  readonly ssrf: SsrfPolicy;
  readonly now?: () => Date;
  /** How often finished deliveries past their controller's retention are purged (default 10 minutes). */
  readonly retentionPurgeEveryMs?: number;
  readonly worker?: Partial<WorkerOptions> & { connectTimeoutMs?: number };
  /** How a status whose keys are not available is retried before it is dead-lettered. */
  readonly intake?: {
    readonly maxAttempts?: number;
    readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  };
  readonly registry?: Registry;
}

export interface Webhooks {
  readonly store: PgDeliveryStore;
  /** Outcomes of the control plane's commands (read by the internal HTTP routes). */
  readonly commands: PgCommandStore;
  /**
   * The revision of an endpoint or controller as this process has seen it (undefined: not seen).
   * A status consumed before its endpoint is seen has no subscriber, so a caller that publishes an
   * endpoint and then a status (tests) waits for this first.
   */
  seenRevision(kind: 'endpoint' | 'controller', id: string): number | undefined;
  /** Looks at the queue now (tests that move the clock). */
  wake(): void;
  /** True once the intake consumer and the worker run. */
  ready(): boolean;
  stop(): Promise<void>;
}

const DEFAULTS: WorkerOptions = {
  perEndpointConcurrency: 8,
  perEndpointRatePerSecond: 100,
  maxInFlight: 256,
  attemptTimeoutMs: 15_000,
  pollMs: 1_000,
  disableAfterMs: 5 * 24 * 3_600_000,
};

/** Longest an attempt's processing event waits before the relay is woken to publish it. */
const RELAY_WAKE_MS = 50;

/** Starts the webhooks service: migrations, directories (awaited), intake consumer, delivery worker. */
export async function startWebhooks(options: WebhooksOptions): Promise<Webhooks> {
  const namespace = options.namespace ?? '';
  const now = options.now ?? (() => new Date());
  await migrate(options.db, webhooksMigrations);
  const registry = options.registry ?? new Registry();
  // Every event is stored with the change it announces; the relay publishes them (DESIGN §5.0).
  const relay: OutboxRelay = startOutboxRelay({
    db: options.db,
    table: WEBHOOKS_OUTBOX,
    ...outboxMetrics(registry, WEBHOOKS_OUTBOX),
    producer: options.bus.producer(),
    onError: (error) => options.log.warn({ err: error }, 'publishing the outbox failed; retrying'),
  });
  // Attempts are recorded (with their processing events) a few at a time: the relay is woken once per
  // RELAY_WAKE_MS at most, so it publishes them in one pass instead of one pass (four statements)
  // per recorded batch. Audit events are not on the webhook's path; tens of milliseconds are nothing.
  let relayTimer: NodeJS.Timeout | undefined;
  const wakeRelay = () => {
    relayTimer ??= setTimeout(() => {
      relayTimer = undefined;
      relay.wake();
    }, RELAY_WAKE_MS);
  };
  const store = new PgDeliveryStore(options.db, wakeRelay);
  const controllers = await startControllerDirectory({
    bus: options.bus,
    cell: options.cell,
    namespace,
    kms: options.kms,
  });
  await controllers.view.ready;
  const endpoints = await startEndpointDirectory({ bus: options.bus, cell: options.cell, namespace });
  // A controller missing from the directory was terminated (its keys are shredded): nothing to send.
  // Any other failure to unwrap keys (KMS down) throws, so the batch is retried rather than skipped.
  const keys = async (controllerId: string) =>
    controllers.get(controllerId) ? controllers.keys(controllerId) : undefined;
  const health = new EndpointHealthCache();
  health.set(await store.unhealthyEndpoints());
  const workerOptions: WorkerOptions = { ...DEFAULTS, ...options.worker };
  const sender = createHttpSender({
    ssrf: options.ssrf,
    connectTimeoutMs: options.worker?.connectTimeoutMs ?? 5_000,
    totalTimeoutMs: workerOptions.attemptTimeoutMs,
    connectionsPerEndpoint: workerOptions.perEndpointConcurrency,
  });

  const attempts = new Counter({
    name: 'webhooks_attempts_total',
    help: 'Delivery attempts by outcome (delivered, retry, dead) and error class.',
    labelNames: ['outcome', 'error_class'] as const,
    registers: [registry],
  });
  const attemptSeconds = new Histogram({
    name: 'webhooks_attempt_duration_seconds',
    help: 'Duration of one delivery attempt (connect to truncated response).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const lagSeconds = new Histogram({
    name: 'webhooks_delivery_lag_seconds',
    help: 'From a delivery being stored to its last attempt (retries included), by outcome (delivered, dead).',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 1800, 7200, 36000, 100000],
    registers: [registry],
  });
  const stored = new Counter({
    name: 'webhooks_deliveries_stored_total',
    help: 'Deliveries stored from status events (one per subscribed endpoint).',
    registers: [registry],
  });
  const depth = new Gauge({
    name: 'webhooks_queue_depth',
    help: 'Deliveries by state: pending (waiting or in flight) and dead (dead letters).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const d = await store.depths();
      this.set({ state: 'pending' }, d.pending);
      this.set({ state: 'dead' }, d.dead);
    },
  });
  void depth;
  const disabledEndpoints = new Gauge({
    name: 'webhooks_endpoints_disabled',
    help: 'Endpoints this service disabled (410 Gone or continuous failure) and not yet re-enabled, from the health table (refreshed every 5 s).',
    registers: [registry],
  });
  for (const outcome of ['delivered', 'retry', 'dead']) attempts.inc({ outcome, error_class: 'none' }, 0);
  for (const outcome of ['delivered', 'dead']) lagSeconds.zero({ outcome });
  const deadLettered = new Counter({
    name: 'webhooks_intake_dead_letters_total',
    help: 'Status records the intake could not process, sent to the dead-letter topic, by code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });

  const worker = startDeliveryWorker(
    {
      cell: options.cell,
      namespace,
      store,
      sender,
      endpoints,
      keys,
      health,
      now,
      onAttempt: (a) => {
        attempts.inc({ outcome: a.outcome, error_class: a.errorClass ?? 'none' });
        attemptSeconds.observe(a.latencyMs / 1000);
        if (a.outcome !== 'retry') lagSeconds.observe({ outcome: a.outcome }, a.ageMs / 1000);
      },
      onError: (error) => options.log.warn({ err: error }, 'delivery worker error'),
    },
    workerOptions,
  );
  // Other processes may disable endpoints too: refresh the shared view now and then.
  const refresh = setInterval(() => {
    store
      .unhealthyEndpoints()
      .then((h) => {
        health.set(h);
        disabledEndpoints.set(h.filter((e) => e.state === 'disabled').length);
      })
      .catch((error: unknown) => options.log.warn({ err: error }, 'endpoint health refresh failed'));
  }, 5_000);
  refresh.unref();

  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(options.cell, name, namespace);
  const subscribed = (controllerId: string, eventType: string) =>
    endpoints.subscribed(controllerId, eventType).length > 0;
  const consumer: ConsumerHandle = await options.bus.consume<StatusEvent | undefined>({
    groupId: consumerGroup('webhooks', options.cell, namespace),
    topics: [topic('sms.status.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    // Statuses nobody subscribes to (three in four in a typical run) are passed over undecoded.
    decode: (record) => decodeStatusRecord(subscribed, record.value),
    // Stored before the offsets are committed (the consumer commits after this resolves); a status
    // that cannot be processed is retried alone or dead-lettered, never holding up the partition.
    handleBatch: async (batch) => {
      const statuses = batch.records.filter((r): r is DecodedRecord<StatusEvent> => r.message !== undefined);
      if (statuses.length === 0) return { failed: [] };
      const { added, failed } = await intakeStatuses(
        { store, endpoints, keys, isDisabled: (id, rev) => health.isDisabled(id, rev), now },
        statuses,
      );
      if (added > 0) {
        stored.inc(added);
        worker.wake();
      }
      return { failed };
    },
    retryBackoffMs: options.intake?.retryBackoffMs ?? { initial: 250, max: 15_000 },
    maxAttempts: options.intake?.maxAttempts ?? 10,
    onBatchError: (error, where) =>
      options.log.warn(
        { err: error, partition: where.partition, attempt: where.attempt },
        'intake failed; retrying',
      ),
    onRecordFailed: (error, where) => {
      if (where.outcome === 'dead-letter') deadLettered.inc({ code: where.code });
      // Warn, not error: the record is kept on the dead-letter topic, counted, and replayable.
      options.log.warn(
        {
          err: error,
          code: where.code,
          partition: where.partition,
          offset: where.offset,
          attempt: where.attempt,
        },
        where.outcome === 'retry' ? 'status not processed; retrying it' : 'status dead-lettered',
      );
    },
  });
  // The control plane's resend and recover commands: each carried out once, in its own transaction.
  const commands = new PgCommandStore(options.db);
  const commandConsumer = await startWebhookCommands({
    cell: options.cell,
    bus: options.bus,
    db: options.db,
    log: options.log,
    namespace,
    now,
    deliveries: store,
    commands,
    onDeadLetter: (code) => deadLettered.inc({ code }),
    ...(options.intake ? { retry: options.intake } : {}),
    wrote: () => {
      wakeRelay();
      worker.wake();
    },
  });
  // Data-subject requests: export or erase the deliveries about the subject, and acknowledge.
  const subjectDeps = {
    cell: options.cell,
    namespace,
    keys,
    store: pgWebhooksSubjectStore(options.db, () => relay.wake()),
    now,
  };
  const subjectRequests = await options.bus.consume(
    privacyRequestConsumer({
      service: 'webhooks',
      cell: options.cell,
      namespace,
      answer: (request) => answerWebhooksSubjectRequest(subjectDeps, request),
      warn: (fields, message) => options.log.warn(fields, message),
    }),
  );
  // Instructions' retention: finished deliveries are purged per controller, every purge audited.
  const purgedRows = retentionMetrics(registry);
  const retention = startPeriodic(
    () =>
      purgeExpired({
        service: 'webhooks',
        cell: options.cell,
        namespace,
        controllers: () => controllers.view.values(),
        store: pgWebhooksRetention(options.db, () => relay.wake()),
        now,
        // A delivery's row (its id derived from the status) stops a redelivered status from being sent twice.
        floorMs: topicRetentionMs('sms.status.v1'),
      }).then(purgedRows.onPurged),
    options.retentionPurgeEveryMs ?? 600_000,
    (error) => options.log.warn({ err: error }, 'retention purge failed; retried at the next run'),
  );
  let running = true;
  return {
    store,
    commands,
    seenRevision: (kind, id) =>
      kind === 'endpoint' ? endpoints.get(id)?.revision : controllers.get(id)?.revision,
    wake: () => worker.wake(),
    ready: () =>
      running &&
      consumer.consuming() &&
      commandConsumer.consuming() &&
      endpoints.view.consuming() &&
      controllers.view.consuming(),
    async stop() {
      running = false;
      clearInterval(refresh);
      await retention.stop();
      await consumer.stop();
      await subjectRequests.stop();
      await commandConsumer.stop();
      await worker.stop();
      clearTimeout(relayTimer);
      // What the last attempts stored goes out now if the broker takes it; the rest at the next start.
      await relay.stop({ drainMs: 2_000 });
      await sender.close();
      await endpoints.view.stop();
      await controllers.view.stop();
    },
  };
}
export { pgWebhooksRetention } from './adapters/pg-retention.ts';
