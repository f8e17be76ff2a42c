import { fileURLToPath } from 'node:url';
import {
  type Cell,
  consumerGroup,
  type DispatchRecord,
  decodeJsonOrThrow,
  dispatchRecordSchema,
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
import type { Kms, SubprocessorRegistry } from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import { carrierMetrics } from './adapters/carrier-metrics.ts';
import { buildReceiptIngress } from './adapters/http/receipts.ts';
import { DISPATCHER_OUTBOX, PgDispatchStore, RecentRows } from './adapters/pg-dispatch-store.ts';
import { pgDispatcherRetention } from './adapters/pg-retention.ts';
import { pgDispatcherSubjectRows } from './adapters/pg-subject-requests.ts';
import { type BreakerState, CarrierBreaker } from './application/carrier-breaker.ts';
import { dispatchBatch, HoldError } from './application/dispatch-batch.ts';
import { answerHelp, handleInbound } from './application/inbound.ts';
import type { CarrierName, CarrierPort } from './application/ports.ts';
import { RateLimits } from './application/rate-limits.ts';
import { type ReceiptApplier, startReceiptApplier } from './application/receipt-inbox.ts';
import { defaultReconcilePolicy, type ReconcilePolicy, reconcileStale } from './application/reconcile.ts';
import { startScheduler } from './application/scheduler.ts';
import { SendsInFlight } from './application/sends-in-flight.ts';
import { answerDispatcherSubjectRequest } from './application/subject-requests.ts';

/** Folder of the dispatcher's migrations (`massivesms migrate` applies them too). */
export const dispatcherMigrations = {
  service: 'dispatcher',
  dir: fileURLToPath(new URL('../migrations/', import.meta.url)),
};

export interface DispatcherOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly kms: Kms;
  readonly log: Logger;
  /** The carrier adapters; `stop()` closes them (their connection pools). */
  readonly carriers: Readonly<Record<CarrierName, CarrierPort>>;
  /** Public base URL of the receipt ingress (per-message callback URLs); default: the ingress's own address. */
  readonly publicBaseUrl?: string;
  /** The carrier callback ingress (receipts): keys to verify signatures and where to listen. */
  readonly ingress?: { telnyxPublicKey: string; twilioAuthToken: string; port: number; host?: string };
  /**
   * Connections the ingress applies (or parks) receipts through; default `db`. Its own small pool
   * keeps the carriers' 2 s deadline from queueing behind the dispatch batches' queries.
   */
  readonly ingressDb?: Db;
  readonly namespace?: string;
  readonly now?: () => Date;
  readonly breaker?: { volumeThreshold?: number; resetTimeoutMs?: number; errorThresholdPercentage?: number };
  readonly onBreakerChange?: (carrier: CarrierName, state: BreakerState) => void;
  /** Carrier and sender throttling; default: the conservative limits of rate-limits.ts. */
  readonly rateLimits?: RateLimits | false;
  /** How long a message may wait for a carrier before it is closed as failed (default 24 h). */
  readonly maxCarrierWaitMs?: number;
  /** When ambiguous outcomes are closed (default: reconcile.ts); `false` turns the sweeper off (tests). */
  readonly reconcile?: ReconcilePolicy | false;
  /** How often closed messages past their controller's retention are purged (default 10 minutes). */
  readonly retentionPurgeEveryMs?: number;
  /** Prometheus registry for the dispatcher's metrics (served on the ingress port). */
  readonly registry?: Registry;
  /** The subprocessor registry (effective dates, locations); default: the DPA's. */
  readonly subprocessors?: SubprocessorRegistry;
}

/** A running dispatcher. */
export interface Dispatcher {
  readonly breakers: Readonly<Record<CarrierName, CarrierBreaker>>;
  /** Where the receipt ingress listens, when it runs. */
  readonly ingressUrl: string | undefined;
  stop(): Promise<void>;
}

/** Starts the dispatcher: migrations, the controllers view (awaited), breakers, then the consumer. */
export async function startDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  const namespace = options.namespace ?? '';
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(options.cell, name, namespace);
  await migrate(options.db, dispatcherMigrations);
  const directory = await startControllerDirectory({
    bus: options.bus,
    cell: options.cell,
    namespace,
    kms: options.kms,
  });
  await directory.view.ready;
  const breaker = (carrier: CarrierName) =>
    new CarrierBreaker({
      carrier,
      countsAgainstBreaker: (error) =>
        (error as { countsAgainstBreaker?: boolean }).countsAgainstBreaker === true,
      ...options.breaker,
      onStateChange: (c, state) => {
        options.log.warn({ carrier: c, state }, 'carrier breaker changed state');
        carrierStats.breakerState(c, state);
        breakerTransitions.inc({ carrier: c, state });
        options.onBreakerChange?.(c, state);
      },
    });
  const breakers = { telnyx: breaker('telnyx'), twilio: breaker('twilio') };
  const registry = options.registry ?? new Registry();
  const carrierStats = carrierMetrics(registry);
  const carriers = {
    telnyx: carrierStats.instrument(options.carriers.telnyx),
    twilio: carrierStats.instrument(options.carriers.twilio),
  };
  const breakerTransitions = new Counter({
    name: 'dispatcher_breaker_transitions_total',
    help: 'Circuit breaker state changes by carrier and new state.',
    labelNames: ['carrier', 'state'] as const,
    registers: [registry],
  });
  const receipts = new Counter({
    name: 'dispatcher_receipts_total',
    help: 'Carrier receipts applied (as they arrive, or later from the inbox), by carrier and result (applied, duplicate, ignored, unknown_message, …).',
    labelNames: ['carrier', 'result'] as const,
    registers: [registry],
  });
  const received = new Counter({
    name: 'dispatcher_receipts_received_total',
    help: 'Carrier callbacks at the ingress, by carrier and result (applied, duplicate, ignored, …; queued: parked in the inbox; rejected_signature).',
    labelNames: ['carrier', 'result'] as const,
    registers: [registry],
  });
  const now = options.now ?? (() => new Date());
  const published = new Counter({
    name: 'dispatcher_outbox_published_total',
    help: 'Events (statuses, suppressions, processing events) the outbox relay published to Kafka.',
    registers: [registry],
  });
  // Every event is stored with the change it announces; the relay publishes them (DESIGN §5.0).
  const relay: OutboxRelay = startOutboxRelay({
    db: options.db,
    table: DISPATCHER_OUTBOX,
    ...outboxMetrics(registry, DISPATCHER_OUTBOX),
    producer: options.bus.producer(),
    onPublished: (count) => published.inc(count),
    onError: (error) => options.log.warn({ err: error }, 'publishing the outbox failed; retrying'),
  });
  const wake = () => relay.wake();
  // The send path's rows are where the receipts' lookups start (RecentRows).
  const recent = new RecentRows();
  // Receipts that overtake their send's answer wait for its outcome (see SendsInFlight).
  const inFlight = new SendsInFlight();
  const store = new PgDispatchStore(options.db, wake, recent);
  new Gauge({
    name: 'dispatcher_parked_messages',
    help: 'Messages parked out of their partition: waiting for quiet hours to end (reason quiet_hours) or for a carrier their instruction allows (reason carrier).',
    labelNames: ['reason'] as const,
    registers: [registry],
    async collect() {
      const counts = await store.parkedCounts();
      this.set({ reason: 'quiet_hours' }, counts.quietHours);
      this.set({ reason: 'carrier' }, counts.carrier);
    },
  });
  let running = false;
  let ingress: FastifyInstance | undefined;
  let ingressUrl: string | undefined;
  let applier: ReceiptApplier | undefined;
  if (options.ingress) {
    const receiptDeps = {
      cell: options.cell,
      namespace,
      store,
      now,
      inFlight,
      ...(options.subprocessors ? { subprocessors: options.subprocessors } : {}),
    };
    // Receipts are applied through the ingress's own connections (carriers wait 2 s at most).
    const inbox = startReceiptApplier(
      {
        ...receiptDeps,
        store: options.ingressDb ? new PgDispatchStore(options.ingressDb, wake, recent) : store,
      },
      {
        onResult: (carrier, result) => receipts.inc({ carrier, result }),
        onError: (error) =>
          options.log.warn({ err: error }, 'applying a carrier receipt failed; retried later'),
      },
    );
    applier = inbox;
    ingress = await buildReceiptIngress({
      ...options.ingress,
      // Twilio signs the URL it called: the configured public URL, else the ingress's own address.
      publicBaseUrl: () => options.publicBaseUrl ?? ingressUrl ?? '',
      apply: (receipt) => inbox.accept(receipt),
      onResult: (carrier, result) => received.inc({ carrier, result }),
      inbound: async (message) => {
        await handleInbound(
          {
            ...receiptDeps,
            controllers: { values: () => directory.view.values(), keys: (id: string) => directory.keys(id) },
          },
          message,
        );
        // Not awaited: Telnyx wants its 2xx within 2 s, the reply is a separate carrier call.
        answerHelp(options.carriers.telnyx, message).catch((error: unknown) =>
          options.log.warn({ err: error }, 'HELP reply failed'),
        );
      },
      ops: {
        ready: () =>
          running && consumer.consuming() && suppressions.consuming() && directory.view.consuming(),
        metrics: registry,
      },
    });
    ingressUrl = await ingress.listen({
      port: options.ingress.port,
      host: options.ingress.host ?? '0.0.0.0',
    });
  }
  const publicBaseUrl = options.publicBaseUrl ?? ingressUrl;
  if (!publicBaseUrl) throw new Error('the dispatcher needs a public base URL for receipts (or an ingress)');
  // Cuts every rate-limit wait short at stop.
  const stopping = new AbortController();
  const deps = {
    signal: stopping.signal,
    cell: options.cell,
    namespace,
    now,
    publicBaseUrl,
    controllers: directory,
    store,
    inFlight,
    routes: {
      telnyx: { port: carriers.telnyx, breaker: breakers.telnyx },
      twilio: { port: carriers.twilio, breaker: breakers.twilio },
    },
    onFailover: carrierStats.failedOver,
    ...(options.rateLimits === false ? {} : { rateLimits: options.rateLimits ?? new RateLimits() }),
    ...(options.subprocessors ? { subprocessors: options.subprocessors } : {}),
    ...(options.maxCarrierWaitMs ? { maxCarrierWaitMs: options.maxCarrierWaitMs } : {}),
  };
  const suppressions: ConsumerHandle = await options.bus.consume<SuppressionEvent>({
    groupId: consumerGroup('dispatcher', options.cell, namespace, 'suppressions'),
    topics: [topic('suppressions.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => decodeJsonOrThrow(suppressionEventSchema, record.value),
    handleBatch: (batch) => store.applySuppressions(batch.records.map((r) => r.message)),
  });
  // Data-subject requests: export or erase this service's rows about the subject, and acknowledge.
  const subjectDeps = {
    cell: options.cell,
    namespace,
    keys: (id: string) => directory.keys(id),
    store: pgDispatcherSubjectRows(options.db, wake),
    now,
  };
  const subjectRequests = await options.bus.consume(
    privacyRequestConsumer({
      service: 'dispatcher',
      cell: options.cell,
      namespace,
      answer: (request) => answerDispatcherSubjectRequest(subjectDeps, request),
      warn: (fields, message) => options.log.warn(fields, message),
    }),
  );
  const consumer: ConsumerHandle = await options.bus.consume<DispatchRecord>({
    groupId: consumerGroup('dispatcher', options.cell, namespace),
    topics: [topic('sms.dispatch.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => decodeJsonOrThrow(dispatchRecordSchema, record.value),
    handleBatch: async (batch) => {
      await dispatchBatch(deps, batch.records);
    },
    // A partition held for the directory waits with backoff (no busy loop).
    retryBackoffMs: { initial: 250, max: 15_000 },
    maxBatchSize: 100,
    onBatchError: (error, where) => {
      const held = error instanceof HoldError;
      options.log[held ? 'info' : 'warn'](
        {
          err: held ? undefined : error,
          topic: where.topic,
          partition: where.partition,
          attempt: where.attempt,
        },
        held ? 'partition held: a controller is not in the directory yet' : 'dispatch batch failed; retrying',
      );
    },
  });
  // Messages held for quiet hours go out when their window opens.
  const scheduler = startScheduler(deps, {
    onError: (error) => options.log.warn({ err: error }, 'dispatching held messages failed; retried later'),
  });
  // Reconciliation: every message without a terminal status is closed by an explicit policy. One
  // sweep at a time; the timer is cleared at stop.
  const policy = options.reconcile === false ? undefined : (options.reconcile ?? defaultReconcilePolicy);
  let sweeping: Promise<unknown> | undefined;
  const sweep = policy
    ? setInterval(() => {
        if (sweeping) return;
        sweeping = reconcileStale(
          {
            cell: options.cell,
            namespace,
            store,
            now,
            carriers,
            subprocessors: options.subprocessors,
            onLookupError: (error) =>
              options.log.warn({ err: error }, 'carrier lookup failed; asked again at the next sweep'),
          },
          policy,
        )
          .catch((error: unknown) => options.log.warn({ err: error }, 'reconciliation sweep failed'))
          .finally(() => {
            sweeping = undefined;
          });
      }, policy.sweepEveryMs)
    : undefined;
  sweep?.unref();
  // Instructions' retention: closed rows of the send ledger are purged per controller, audited.
  const purgedRows = retentionMetrics(registry);
  const retention = startPeriodic(
    () =>
      purgeExpired({
        service: 'dispatcher',
        cell: options.cell,
        namespace,
        controllers: () => directory.view.values(),
        store: pgDispatcherRetention(options.db, () => relay.wake()),
        now,
        // A sent message's row stops a redelivered dispatch record from being sent twice.
        floorMs: topicRetentionMs('sms.dispatch.v1'),
      }).then(purgedRows.onPurged),
    options.retentionPurgeEveryMs ?? 600_000,
    (error) => options.log.warn({ err: error }, 'retention purge failed; retried at the next run'),
  );
  running = true;
  return {
    breakers,
    ingressUrl,
    async stop() {
      running = false;
      stopping.abort();
      if (sweep) clearInterval(sweep);
      await sweeping;
      await retention.stop();
      await consumer.stop();
      await scheduler.stop();
      await suppressions.stop();
      await subjectRequests.stop();
      await ingress?.close();
      await applier?.stop();
      // What the last batches stored goes out now if the broker takes it; the rest at the next start.
      await relay.stop({ drainMs: 2_000 });
      await directory.view.stop();
      breakers.telnyx.shutdown();
      breakers.twilio.shutdown();
      // Nothing sends any more (a HELP reply still in flight is waited for).
      await Promise.all(Object.values(options.carriers).map((carrier) => carrier.close?.()));
    },
  };
}

export { pgDispatcherRetention } from './adapters/pg-retention.ts';
export { RateLimits } from './application/rate-limits.ts';
export { defaultReconcilePolicy, type ReconcilePolicy, reconcilePolicy } from './application/reconcile.ts';
