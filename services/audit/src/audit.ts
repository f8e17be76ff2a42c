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
import type { Logger } from '@massivesms/telemetry';
import { Counter, type Registry } from 'prom-client';
import { appendEvents, auditMigrations } from './adapters/pg-ledger.ts';

export interface AuditOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly log: Logger;
  readonly registry: Registry;
  readonly namespace?: string;
  readonly now?: () => Date;
}

/** A running audit service: the consumer that appends the cell's processing events to its ledger. */
export interface Audit {
  readonly ready: () => boolean;
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
  const appended = new Counter({
    name: 'audit_events_appended_total',
    help: 'Processing events appended to the ledger (a republished event, same id, is not appended again).',
    registers: [options.registry],
  });
  const consumer: ConsumerHandle = await options.bus.consume<ProcessingEvent>({
    groupId: consumerGroup('audit', options.cell, namespace),
    topics: [topic('audit.processing.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => decodeJsonOrThrow(processingEventSchema, record.value),
    handleBatch: async (batch) => {
      appended.inc(
        await appendEvents(
          options.db,
          batch.records.map((r) => r.message),
          now(),
        ),
      );
    },
    maxBatchSize: 1_000,
    onBatchError: (error, where) =>
      options.log.warn(
        { err: error, topic: where.topic, partition: where.partition, attempt: where.attempt },
        'appending to the ledger failed; retrying',
      ),
  });
  let stopped = false;
  return {
    ready: () => !stopped && consumer.consuming(),
    async stop() {
      stopped = true;
      await consumer.stop();
    },
  };
}
