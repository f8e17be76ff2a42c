import { fileURLToPath } from 'node:url';
import {
  type Cell,
  consumerGroup,
  decodeJsonOrThrow,
  privacyRequestConsumer,
  type SuppressionEvent,
  suppressionEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { type Db, migrate } from '@massivesms/db';
import { purgeExpired, startControllerDirectory, topicRetentionMs } from '@massivesms/directory';
import { type ConsumerHandle, type MessageBus, startPeriodic } from '@massivesms/messaging';
import { outboxMetrics, retentionMetrics } from '@massivesms/metrics';
import { type OutboxRelay, startOutboxRelay } from '@massivesms/outbox';
import type { Kms } from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import { Counter, Histogram, type Registry } from 'prom-client';
import { pgRouterRetention } from './adapters/pg-retention.ts';
import { applySuppressions, pgRouterStore, ROUTER_OUTBOX } from './adapters/pg-store.ts';
import { pgSubjectRows } from './adapters/pg-subject-requests.ts';
import { type BatchOutcome, routeBatch } from './application/route-batch.ts';
import { answerSubjectRequest } from './application/subject-requests.ts';

/** Folder of the router's migrations (`massivesms migrate` applies them too). */
export const routerMigrations = {
  service: 'router',
  dir: fileURLToPath(new URL('../migrations/', import.meta.url)),
};

export interface RouterOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly kms: Kms;
  readonly log: Logger;
  readonly registry: Registry;
  readonly namespace?: string;
  readonly maxSegments?: number;
  /** How often expired rows are purged (RETENTION_PURGE_INTERVAL_MS; default 10 minutes). */
  readonly retentionPurgeEveryMs?: number;
  readonly now?: () => Date;
  /** Called after each routed batch (the demo's progress bar and summary). */
  readonly onBatch?: (outcome: BatchOutcome) => void;
  /** How a request whose controller's keys are not available is retried before it is dead-lettered. */
  readonly routing?: {
    readonly maxAttempts?: number;
    readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  };
}

/** A running router: consumers of requests and suppressions, over a view of the controllers. */
export interface Router {
  readonly ready: () => boolean;
  stop(): Promise<void>;
}

/** Starts the router: migrations, the controllers view (awaited), then the consumers. */
export async function startRouter(options: RouterOptions): Promise<Router> {
  const namespace = options.namespace ?? '';
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(options.cell, name, namespace);
  const { log } = options;
  await migrate(options.db, routerMigrations);

  const routed = new Counter({
    name: 'router_requests_total',
    help: 'Requests routed, by outcome (dispatched, suppressed, expired, duplicate, rejected) and rejection code.',
    labelNames: ['outcome', 'code'] as const,
    registers: [options.registry],
  });
  const batchSeconds = new Histogram({
    name: 'router_batch_duration_seconds',
    help: 'Time to route one batch, from handing it over to its outputs being stored (committed with their claims).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [options.registry],
  });
  const deadLettered = new Counter({
    name: 'router_dead_letters_total',
    help: 'Requests sent to the dead-letter topic (their controller keys stayed unavailable), by code.',
    labelNames: ['code'] as const,
    registers: [options.registry],
  });

  // Every output is stored with the claim it announces; the relay publishes them (DESIGN §5.0).
  const relay: OutboxRelay = startOutboxRelay({
    db: options.db,
    table: ROUTER_OUTBOX,
    ...outboxMetrics(options.registry, ROUTER_OUTBOX),
    producer: options.bus.producer(),
    onError: (error) => log.warn({ err: error }, 'publishing the outbox failed; retrying'),
  });
  const directory = await startControllerDirectory({
    bus: options.bus,
    cell: options.cell,
    namespace,
    kms: options.kms,
    onUndecodable: (error) => log.error({ err: error }, 'undecodable controller state ignored'),
  });
  await directory.view.ready;

  const deadLetterTopic = topic('deadletter.v1');
  const onBatchError = (error: unknown, where: { topic: string; partition: number; attempt: number }) =>
    log.warn(
      { err: error, topic: where.topic, partition: where.partition, attempt: where.attempt },
      'batch failed; retrying',
    );

  const consumers: ConsumerHandle[] = [];
  consumers.push(
    await options.bus.consume<SuppressionEvent>({
      groupId: consumerGroup('router', options.cell, namespace, 'suppressions'),
      topics: [topic('suppressions.v1')],
      deadLetterTopic,
      decode: (record) => decodeJsonOrThrow(suppressionEventSchema, record.value),
      handleBatch: (batch) =>
        applySuppressions(
          options.db,
          batch.records.map((r) => r.message),
        ),
      onBatchError,
    }),
  );

  const deps = {
    cell: options.cell,
    namespace,
    directory,
    store: pgRouterStore(options.db, () => relay.wake()),
    now: options.now ?? (() => new Date()),
    maxSegments: options.maxSegments ?? 10,
  };
  consumers.push(
    await options.bus.consume({
      groupId: consumerGroup('router', options.cell, namespace),
      topics: [topic('sms.requested.v1')],
      deadLetterTopic,
      decode: (record) => record, // every record is judged by routeBatch, which answers bad input itself
      // Requests carry the number and body in plaintext: a dead letter keeps only key and headers,
      // and a replay reads the value back from sms.requested.v1 while it retains it.
      deadLetterValue: 'omit',
      handleBatch: async (batch) => {
        const timer = batchSeconds.startTimer();
        const outcome = await routeBatch(deps, batch.records);
        timer();
        routed.inc({ outcome: 'dispatched', code: '' }, outcome.dispatched);
        routed.inc({ outcome: 'suppressed', code: '' }, outcome.suppressed);
        routed.inc({ outcome: 'expired', code: '' }, outcome.expired);
        routed.inc({ outcome: 'duplicate', code: '' }, outcome.duplicates);
        for (const [code, n] of Object.entries(outcome.rejected))
          routed.inc({ outcome: 'rejected', code }, n);
        options.onBatch?.(outcome);
        return { failed: outcome.failed };
      },
      maxBatchSize: 500,
      maxAttempts: options.routing?.maxAttempts ?? 10,
      ...(options.routing?.retryBackoffMs ? { retryBackoffMs: options.routing.retryBackoffMs } : {}),
      onBatchError,
      onRecordFailed: (error, where) => {
        if (where.outcome === 'dead-letter') deadLettered.inc({ code: where.code });
        // Warn, not error: the request is kept (by reference) on the dead-letter topic and replayable.
        log.warn(
          {
            err: error,
            code: where.code,
            topic: where.topic,
            partition: where.partition,
            offset: where.offset,
            attempt: where.attempt,
          },
          where.outcome === 'retry' ? 'request not routed; retrying it' : 'request dead-lettered',
        );
      },
    }),
  );
  const subjectDeps = {
    cell: options.cell,
    namespace,
    directory,
    store: pgSubjectRows(options.db, () => relay.wake()),
    now: deps.now,
  };
  // Data-subject requests: restriction and objection take effect here, where suppression is enforced.
  consumers.push(
    await options.bus.consume(
      privacyRequestConsumer({
        service: 'router',
        cell: options.cell,
        namespace,
        answer: (request) => answerSubjectRequest(subjectDeps, request),
        warn: (fields, message) => log.warn(fields, message),
      }),
    ),
  );
  // Instructions' retention: the routing ledger is purged per controller, every purge audited.
  const purgedRows = retentionMetrics(options.registry);
  const retention = startPeriodic(
    () =>
      purgeExpired({
        service: 'router',
        cell: options.cell,
        namespace,
        controllers: () => directory.view.values(),
        store: pgRouterRetention(options.db, () => relay.wake()),
        now: deps.now,
        // A routed request's row stops a redelivered copy from being routed twice.
        floorMs: topicRetentionMs('sms.requested.v1'),
      }).then(purgedRows.onPurged),
    options.retentionPurgeEveryMs ?? 600_000,
    (error) => log.warn({ err: error }, 'retention purge failed; retried at the next run'),
  );
  let stopped = false;
  return {
    ready: () => !stopped && consumers.every((c) => c.consuming()) && directory.view.consuming(),
    async stop() {
      stopped = true;
      await retention.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      await directory.view.stop();
      await relay.stop({ drainMs: 2_000 });
    },
  };
}
export { pgRouterRetention } from './adapters/pg-retention.ts';
