import { type Cell, type PrivacyRequest, privacyRequestSubscription } from '@massivesms/contracts';
import type { Db } from '@massivesms/db';
import type { ConsumerHandle, MessageBus } from '@massivesms/messaging';
import type { Logger } from '@massivesms/telemetry';
import type { ControllerDirectory } from '../application/ports.ts';
import { answerSubjectRequest } from '../application/subject-requests.ts';
import { pgSubjectRows } from './pg-subject-requests.ts';

/**
 * Consumes {cell}.privacy.requests.v1 (data-subject requests from the control plane) and answers
 * each one on privacy.acks.v1 through the outbox. A request that fails (keys unavailable, database
 * down) fails its batch, which is retried: an acknowledgement is never given for work not done.
 */
export function consumeSubjectRequests(options: {
  readonly bus: MessageBus;
  readonly db: Db;
  readonly cell: Cell;
  readonly namespace: string;
  readonly directory: ControllerDirectory;
  readonly log: Logger;
  readonly wrote: () => void;
  readonly now: () => Date;
}): Promise<ConsumerHandle> {
  const deps = {
    cell: options.cell,
    namespace: options.namespace,
    directory: options.directory,
    store: pgSubjectRows(options.db, options.wrote),
    now: options.now,
  };
  return options.bus.consume<PrivacyRequest>({
    ...privacyRequestSubscription('router', options.cell, options.namespace),
    handleBatch: async (batch) => {
      for (const record of batch.records) await answerSubjectRequest(deps, record.message);
    },
    onBatchError: (error, where) =>
      options.log.warn(
        { err: error, topic: where.topic, partition: where.partition, attempt: where.attempt },
        'data-subject requests failed; retrying',
      ),
  });
}
