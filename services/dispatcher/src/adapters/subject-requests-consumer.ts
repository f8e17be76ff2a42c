import { type Cell, type PrivacyRequest, privacyRequestSubscription } from '@massivesms/contracts';
import type { Db } from '@massivesms/db';
import type { ConsumerHandle, MessageBus } from '@massivesms/messaging';
import type { ControllerKeys } from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import { answerDispatcherSubjectRequest } from '../application/subject-requests.ts';
import { pgDispatcherSubjectRows } from './pg-subject-requests.ts';

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
  readonly keys: (controllerId: string) => Promise<ControllerKeys>;
  readonly log: Logger;
  readonly wrote: () => void;
  readonly now: () => Date;
}): Promise<ConsumerHandle> {
  const deps = {
    cell: options.cell,
    namespace: options.namespace,
    keys: options.keys,
    store: pgDispatcherSubjectRows(options.db, options.wrote),
    now: options.now,
  };
  return options.bus.consume<PrivacyRequest>({
    ...privacyRequestSubscription('dispatcher', options.cell, options.namespace),
    handleBatch: async (batch) => {
      for (const record of batch.records) await answerDispatcherSubjectRequest(deps, record.message);
    },
    onBatchError: (error, where) =>
      options.log.warn(
        { err: error, topic: where.topic, partition: where.partition, attempt: where.attempt },
        'data-subject requests failed; retrying',
      ),
  });
}
