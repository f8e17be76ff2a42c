export {
  decodeRecords,
  encodeRecords,
  OutboxFrameError,
  type OutboxRelay,
  type OutboxRelayOptions,
  outboxInsert,
  outboxParams,
  startOutboxRelay,
  writeOutbox,
} from './outbox.ts';
