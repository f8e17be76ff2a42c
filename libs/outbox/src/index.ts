export {
  type OutboxColumns,
  type OutboxRelay,
  type OutboxRelayOptions,
  outboxColumns,
  outboxParams,
  outboxSelect,
  startOutboxRelay,
  writeOutbox,
} from './outbox.ts';
