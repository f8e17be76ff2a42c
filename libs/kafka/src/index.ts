export * from './admin.ts';
export { KafkaBus, type KafkaBusOptions, type KafkaLogSink } from './kafka-bus.ts';
