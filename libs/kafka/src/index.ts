export * from './admin.ts';
export type { KafkaConnection } from './client.ts';
export * from './dead-letters.ts';
export { KafkaBus, type KafkaBusOptions, type KafkaLogSink } from './kafka-bus.ts';
