import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type Cell,
  consumerGroup,
  decodeJsonOrThrow,
  type PrivacyAck,
  type PrivacyService,
  privacyAckSchema,
  privacyServices,
  topicFor,
} from '@massivesms/contracts';
import { type Db, migrate } from '@massivesms/db';
import type { ConsumerHandle, MessageBus } from '@massivesms/messaging';
import { instrumentBus, type LagSource, outboxMetrics } from '@massivesms/metrics';
import { type OutboxRelay, startOutboxRelay } from '@massivesms/outbox';
import { Keyring, type Kms, type SubprocessorRegistry } from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { CONTROL_OUTBOX, outboxControlEvents } from './adapters/events.ts';
import { buildControlApp } from './adapters/http/app.ts';
import {
  instructionDocumentSchema,
  privacyInstructionPolicy,
  publicSubprocessors,
} from './adapters/instruction-policy.ts';
import {
  httpAuditLedger,
  httpWebhookDeliveries,
  type InternalClientTimeouts,
} from './adapters/internal-services.ts';
import { PgControllerKeyStore } from './adapters/pg-store.ts';
import { ssrfUrlGuard } from './adapters/url-guard.ts';
import { ControlService, type PublicSubprocessorView } from './application/control-service.ts';
import type { Clock, UrlGuard } from './application/ports.ts';
import { SubjectRequests } from './application/subject-requests.ts';
import { Terminations } from './application/terminations.ts';

/** Folder of the control service's migrations (`massivesms migrate` applies them too). */
export const controlMigrations = {
  service: 'control',
  dir: fileURLToPath(new URL('../migrations/', import.meta.url)),
};

export interface ControlOptions {
  readonly cell: Cell;
  readonly db: Db;
  readonly bus: MessageBus;
  /** Consumer lag of control's groups for /metrics (libs/metrics `kafkaLagSource`); closed by `close()`. */
  readonly lag?: LagSource;
  readonly kms: Kms;
  readonly log: Logger;
  readonly operatorToken?: string | undefined;
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly webhookAllowList?: readonly string[];
  readonly maxRetentionDays?: { readonly content: number; readonly metadata: number };
  /** Test namespace for topics (empty in production). */
  readonly topicNamespace?: string;
  readonly clock?: Clock;
  /** Subprocessor registry (default: the one in libs/privacy); tests add a new subprocessor here. */
  readonly subprocessorRegistry?: SubprocessorRegistry;
  /** Replaces the SSRF guard's DNS-based check (tests of the guard itself live in libs/ssrf). */
  readonly guardUrl?: UrlGuard;
  /** The webhooks service's internal HTTP address (WEBHOOKS_INTERNAL_URL); without it recovery answers 503. */
  readonly webhooksUrl?: string | undefined;
  /** The audit service's internal HTTP address (AUDIT_INTERNAL_URL); without it exports answer 503. */
  readonly auditUrl?: string | undefined;
  /** Bounds on each call to those services (default: 2 s to connect, 30 s to answer). */
  readonly internalTimeouts?: InternalClientTimeouts;
  /** Services that must acknowledge a data-subject request before it completes (default: all). */
  readonly dsrServices?: readonly PrivacyService[];
  /** Days from a termination to the deletion of the controller's data (default 30). */
  readonly terminationGraceDays?: number;
  /** How often due terminations are looked for (default 60 s); tests call `terminations.runDue()`. */
  readonly terminationCheckIntervalMs?: number;
}

/** A wired control service: the HTTP app plus what `main` needs to start and stop it. */
export interface Control {
  readonly app: FastifyInstance;
  /** Every registered route as `METHOD /path/{param}` (OpenAPI spelling), for the drift test. */
  readonly routes: readonly string[];
  readonly service: ControlService;
  readonly terminations: Terminations;
  /** Applies migrations, bootstraps the operator token, republishes state; then listens. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** Composition of the control service from its adapters (used by main.ts and by component tests). */
export async function createControl(options: ControlOptions): Promise<Control> {
  const clock = options.clock ?? (() => new Date());
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registry.setDefaultLabels({ cell: options.cell });
  // Consumer and producer RED (and lag, given a source) of everything control sends and reads.
  const bus = instrumentBus(options.bus, { registry, ...(options.lag ? { lag: options.lag } : {}) });
  const keyring = new Keyring({ kms: options.kms, store: new PgControllerKeyStore(options.db), now: clock });
  // Every change is stored with its events; the relay publishes them (DESIGN §5.0). Started by listen().
  let relay: OutboxRelay | undefined;
  // The services that own deliveries and the ledger answer for them; control never reads their tables.
  const internalCalls = new Histogram({
    name: 'control_internal_request_duration_seconds',
    help: 'Calls of the control API to the webhooks and audit services (deliveries, ledger reads), by service and outcome (ok; error: no answer or 5xx).',
    labelNames: ['service', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const observe = (service: string, outcome: 'ok' | 'error', seconds: number) =>
    internalCalls.observe({ service, outcome }, seconds);
  const webhookDeliveries = options.webhooksUrl
    ? httpWebhookDeliveries(options.webhooksUrl, options.internalTimeouts, observe)
    : undefined;
  const auditLedger = options.auditUrl
    ? httpAuditLedger(options.auditUrl, options.internalTimeouts, observe)
    : undefined;
  const service = new ControlService({
    db: options.db,
    cell: options.cell,
    keyring,
    events: outboxControlEvents(options.cell, options.topicNamespace ?? '', clock, () => relay?.wake()),
    guardUrl: options.guardUrl ?? ssrfUrlGuard(options.webhookAllowList ?? []),
    instructions: privacyInstructionPolicy(
      options.maxRetentionDays ?? { content: 90, metadata: 400 },
      options.subprocessorRegistry,
    ),
    clock,
    webhookDeliveries,
    auditLedger,
    subprocessors: () =>
      publicSubprocessors(clock(), options.subprocessorRegistry) as unknown as PublicSubprocessorView[],
  });
  const namespace = options.topicNamespace ?? '';
  const subjectRequests = new SubjectRequests({
    db: options.db,
    cell: options.cell,
    namespace,
    keyring,
    events: outboxControlEvents(options.cell, namespace, clock, () => relay?.wake()),
    clock,
    expected: options.dsrServices ?? privacyServices,
    controllerFor: (p, controllerId) => service.getController(p, controllerId),
  });
  const terminations = new Terminations({
    db: options.db,
    cell: options.cell,
    namespace,
    keyring,
    events: outboxControlEvents(options.cell, namespace, clock, () => relay?.wake()),
    clock,
    graceDays: options.terminationGraceDays ?? 30,
    expected: options.dsrServices ?? privacyServices,
    auditLedger,
    controllerFor: (p, controllerId) => service.getController(p, controllerId),
  });
  let ready = false;
  const collectedRoutes: string[] = [];
  const app = await buildControlApp({
    onRoute: (method, url) => collectedRoutes.push(`${method} ${url.replace(/:(\w+)/g, '{$1}')}`),
    service,
    registry,
    log: options.log,
    subprocessors: () => publicSubprocessors(clock(), options.subprocessorRegistry),
    instructionSchema: instructionDocumentSchema,
    ready: async () =>
      ready &&
      (await options.db.query('SELECT 1').then(
        () => true,
        () => false,
      )),
    ...(options.tls
      ? { tls: { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } }
      : {}),
    subjectRequests,
    terminations,
  });
  let acks: ConsumerHandle | undefined;
  let dueTimer: NodeJS.Timeout | undefined;
  let dueRun: Promise<void> | undefined;
  return {
    app,
    routes: collectedRoutes,
    service,
    terminations,
    async listen(port, host = '0.0.0.0') {
      await migrate(options.db, controlMigrations);
      relay ??= startOutboxRelay({
        db: options.db,
        table: CONTROL_OUTBOX,
        ...outboxMetrics(registry, CONTROL_OUTBOX),
        producer: bus.producer(),
        onError: (error) => options.log.warn({ err: error }, 'publishing the outbox failed; retrying'),
      });
      // The services' answers to data-subject requests complete them (stored before the commit).
      acks ??= await bus.consume<PrivacyAck>({
        groupId: consumerGroup('control', options.cell, namespace, 'privacy-acks'),
        topics: [topicFor(options.cell, 'privacy.acks.v1', namespace)],
        deadLetterTopic: topicFor(options.cell, 'deadletter.v1', namespace),
        decode: (record) => decodeJsonOrThrow(privacyAckSchema, record.value),
        handleBatch: async (batch) => {
          const answers = batch.records.map((r) => r.message);
          await subjectRequests.applyAcks(answers.filter((a) => a.type !== 'termination'));
          await terminations.applyAcks(answers.filter((a) => a.type === 'termination'));
        },
        onBatchError: (error, where) =>
          options.log.warn(
            { err: error, partition: where.partition, attempt: where.attempt },
            'applying data-subject request acknowledgements failed; retrying',
          ),
      });
      if (options.operatorToken) await service.bootstrapOperatorToken(options.operatorToken);
      await service.republishAll();
      // Deletions whose grace period ended start within one interval; a failed look is retried at the next.
      dueTimer ??= setInterval(() => {
        dueRun ??= terminations
          .runDue()
          .then(
            () => {},
            (error) => options.log.warn({ err: error }, 'starting due terminations failed; retrying'),
          )
          .finally(() => {
            dueRun = undefined;
          });
      }, options.terminationCheckIntervalMs ?? 60_000);
      dueTimer.unref();
      const address = await app.listen({ port, host });
      ready = true;
      return address;
    },
    async close() {
      ready = false;
      clearInterval(dueTimer);
      await dueRun;
      await app.close();
      await acks?.stop();
      // What the last requests stored goes out now if the broker takes it; the rest at the next start.
      await relay?.stop({ drainMs: 2_000 });
      await webhookDeliveries?.close();
      await auditLedger?.close();
      await options.lag?.close();
    },
  };
}
