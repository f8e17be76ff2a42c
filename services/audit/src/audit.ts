import {
  type Cell,
  consumerGroup,
  decodeJsonOrThrow,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { type Db, migrate } from '@massivesms/db';
import type { ConsumerHandle, MessageBus } from '@massivesms/messaging';
import { outboxMetrics } from '@massivesms/metrics';
import { type OutboxRelay, startOutboxRelay } from '@massivesms/outbox';
import type { Kms } from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import { Counter, Gauge, type Registry } from 'prom-client';
import { auditMigrations, lockLedger, mergingAppends } from './adapters/pg-ledger.ts';
import { AUDIT_OUTBOX, type CheckpointSigner, checkpointSigner, signCheckpoint } from './adapters/pg-tree.ts';
import { ledgerSelfVerifier } from './self-verify.ts';

/** The log origin (first line of every checkpoint, and the key name) of a cell's ledger by default. */
export function defaultAuditOrigin(cell: Cell): string {
  return `audit.massivesms.example/${cell}`;
}

/** The KMS signing key of a ledger's checkpoints, named after the log's origin. */
export async function auditCheckpointSigner(kms: Kms, origin: string): Promise<CheckpointSigner> {
  return checkpointSigner(origin, await kms.signingKey(`audit-checkpoints/${origin}`));
}

export interface AuditOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly log: Logger;
  readonly registry: Registry;
  /** Holds the Ed25519 key that signs checkpoints. */
  readonly kms: Kms;
  /** Checkpoint origin (default: defaultAuditOrigin(cell)). */
  readonly origin?: string;
  /** Sign a checkpoint once this many entries are unsigned (default 1,000)… */
  readonly checkpointEntries?: number;
  /** …or this long after the last one when any are (default 10 s). */
  readonly checkpointIntervalMs?: number;
  readonly namespace?: string;
  readonly now?: () => Date;
}

/** A running audit service: the consumer that appends the cell's processing events to its ledger. */
export interface Audit {
  readonly ready: () => boolean;
  /** The published verifier key of the ledger's checkpoints. */
  readonly verifierKey: string;
  readonly origin: string;
  /** Signs a checkpoint now if entries are unsigned (tests, shutdown); returns its tree size. */
  checkpoint(): Promise<number | undefined>;
  /** Resolves once every stored checkpoint has been produced to Kafka. */
  published(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the audit service: migrations, then the consumer of `{cell}.audit.processing.v1`. Each
 * batch is appended (new event ids only) and committed to the ledger before its offsets are: a
 * crash replays the batch, which appends nothing twice. A record that is not a processing event
 * goes to the dead-letter topic with its reason.
 */
export async function startAudit(options: AuditOptions): Promise<Audit> {
  const namespace = options.namespace ?? '';
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(options.cell, name, namespace);
  const now = options.now ?? (() => new Date());
  await migrate(options.db, auditMigrations);
  const origin = options.origin ?? defaultAuditOrigin(options.cell);
  const signer = await auditCheckpointSigner(options.kms, origin);
  const everyEntries = options.checkpointEntries ?? 1_000;
  const intervalMs = options.checkpointIntervalMs ?? 10_000;
  const appended = new Counter({
    name: 'audit_events_appended_total',
    help: 'Processing events appended to the ledger (a republished event, same id, is not appended again).',
    registers: [options.registry],
  });
  const lag = new Gauge({
    name: 'audit_append_lag_seconds',
    help: 'Age of the newest processing event appended, when appended (how far the ledger trails the pipeline).',
    registers: [options.registry],
  });
  const signedTotal = new Counter({
    name: 'audit_checkpoints_signed_total',
    help: 'Signed checkpoints stored (and queued for {cell}.audit.checkpoints.v1).',
    registers: [options.registry],
  });
  const signedSize = new Gauge({
    name: 'audit_checkpoint_tree_size',
    help: 'Tree size of the newest signed checkpoint.',
    registers: [options.registry],
  });
  const signedAt = new Gauge({
    name: 'audit_checkpoint_timestamp_seconds',
    help: 'When the newest checkpoint was signed (Unix seconds).',
    registers: [options.registry],
  });
  const relay: OutboxRelay = startOutboxRelay({
    db: options.db,
    table: AUDIT_OUTBOX,
    ...outboxMetrics(options.registry, AUDIT_OUTBOX),
    producer: options.bus.producer(),
    onError: (error) => options.log.warn({ err: error }, 'publishing checkpoints failed; retrying'),
  });
  const checkpointTopic = topic('audit.checkpoints.v1');
  let unsigned = 0;
  /** One signing at a time; concurrent callers share it. */
  let signing: Promise<number | undefined> | undefined;
  const checkpoint = (): Promise<number | undefined> => {
    signing ??= options.db
      .transaction(async (tx) => {
        // The appenders' lock: the ledger cannot grow while its head is computed and signed.
        await lockLedger(tx);
        return signCheckpoint(tx, { signer, topic: checkpointTopic, at: now() });
      })
      .then((signed) => {
        unsigned = 0;
        if (!signed) return undefined;
        relay.wake();
        signedTotal.inc();
        signedSize.set(signed.treeSize);
        signedAt.set(Date.parse(signed.signedAt) / 1_000);
        return signed.treeSize;
      })
      .finally(() => {
        signing = undefined;
      });
    return signing;
  };
  const checkpointQuietly = () =>
    checkpoint().catch((error: unknown) =>
      options.log.warn({ err: error }, 'signing a checkpoint failed; the next one covers these entries'),
    );
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const selfVerify = ledgerSelfVerifier(options.db, options.registry, {
    keys: [signer.verifierKey],
    onFailure: (seq, reason) => options.log.error({ seq, reason }, 'the audit ledger does not verify'),
  });
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () =>
        void checkpointQuietly()
          .then(() => selfVerify.run())
          .finally(schedule),
      intervalMs,
    );
    timer.unref();
  };
  const append = mergingAppends(options.db, now);
  const consumer: ConsumerHandle = await options.bus.consume<ProcessingEvent>({
    groupId: consumerGroup('audit', options.cell, namespace),
    topics: [topic('audit.processing.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => decodeJsonOrThrow(processingEventSchema, record.value),
    handleBatch: async (batch) => {
      const count = await append(batch.records.map((r) => r.message));
      appended.inc(count);
      const newest = batch.records.at(-1);
      if (newest) lag.set(Math.max(0, now().getTime() - Date.parse(newest.message.occurredAt)) / 1_000);
      unsigned += count;
      if (unsigned >= everyEntries) await checkpointQuietly();
    },
    maxBatchSize: 1_000,
    onBatchError: (error, where) =>
      options.log.warn(
        { err: error, topic: where.topic, partition: where.partition, attempt: where.attempt },
        'appending to the ledger failed; retrying',
      ),
  });
  schedule();
  return {
    ready: () => !stopped && consumer.consuming(),
    verifierKey: signer.verifierKey,
    origin,
    checkpoint,
    published: () => relay.flushed(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await consumer.stop();
      // What was appended gets its signed head before the process goes (bounded by the statement timeout).
      await checkpointQuietly();
      await relay.stop({ drainMs: 2_000 });
    },
  };
}
