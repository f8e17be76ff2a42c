// The consumer of `{cell}.webhooks.commands.v1`: resend and recover commands from the control plane,
// carried out here because this service owns the deliveries. Each command takes effect once (its id
// is recorded with the requeue); a command that cannot be carried out goes to the dead-letter topic.
import {
  type Cell,
  consumerGroup,
  decodeJsonOrThrow,
  topicFor,
  type WebhookCommand,
  webhookCommandSchema,
} from '@massivesms/contracts';
import type { Db } from '@massivesms/db';
import {
  type ConsumerHandle,
  type FailedRecord,
  type MessageBus,
  RecordFailedError,
} from '@massivesms/messaging';
import type { Logger } from '@massivesms/telemetry';
import type { PgCommandStore } from './adapters/pg-commands.ts';
import type { PgDeliveryStore } from './adapters/pg-delivery-store.ts';
import { carryOut } from './application/commands.ts';

export interface WebhookCommandsOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly log: Logger;
  readonly namespace?: string;
  readonly now?: () => Date;
  readonly deliveries: PgDeliveryStore;
  readonly commands: PgCommandStore;
  /** Told after a command requeued something (wakes the outbox relay and the delivery worker). */
  readonly wrote?: () => void;
  readonly onDeadLetter?: (code: string) => void;
  readonly retry?: {
    readonly maxAttempts?: number;
    readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  };
}

/** Starts consuming commands; stop the returned handle at shutdown. */
export async function startWebhookCommands(options: WebhookCommandsOptions): Promise<ConsumerHandle> {
  const namespace = options.namespace ?? '';
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(options.cell, name, namespace);
  const deps = {
    cell: options.cell,
    namespace,
    db: options.db,
    deliveries: options.deliveries,
    commands: options.commands,
    now: options.now ?? (() => new Date()),
    wrote: options.wrote ?? (() => {}),
  };
  return options.bus.consume<WebhookCommand>({
    groupId: consumerGroup('webhooks', options.cell, namespace, 'commands'),
    topics: [topic('webhooks.commands.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => decodeJsonOrThrow(webhookCommandSchema, record.value),
    handleBatch: async (batch) => {
      const failed: FailedRecord[] = [];
      // In order: one controller's commands share a partition and are carried out as they were given.
      for (const record of batch.records) {
        if (record.message.region !== options.cell) {
          failed.push({
            record,
            error: RecordFailedError.nonRetryable(
              'SMS_WRONG_REGION',
              `a command for region ${record.message.region} on the ${options.cell} cell's topic`,
              { field: 'region' },
            ),
          });
          continue;
        }
        try {
          await carryOut(deps, record.message);
        } catch (error) {
          failed.push({ record, error });
        }
      }
      return { failed };
    },
    retryBackoffMs: options.retry?.retryBackoffMs ?? { initial: 250, max: 15_000 },
    maxAttempts: options.retry?.maxAttempts ?? 10,
    onRecordFailed: (error, where) => {
      if (where.outcome === 'dead-letter') options.onDeadLetter?.(where.code);
      options.log.warn(
        {
          err: error,
          code: where.code,
          partition: where.partition,
          offset: where.offset,
          attempt: where.attempt,
        },
        where.outcome === 'retry' ? 'command not carried out; retrying it' : 'command dead-lettered',
      );
    },
  });
}
