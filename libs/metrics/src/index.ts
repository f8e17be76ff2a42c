export {
  type BusMetricsOptions,
  instrumentBus,
  type LagSource,
  type PartitionLag,
} from './bus-metrics.ts';
export { type HookableApp, instrumentHttp } from './http-metrics.ts';
export { kafkaLagSource } from './kafka-lag.ts';
export { outboxMetrics } from './outbox-metrics.ts';
export { retentionMetrics } from './retention-metrics.ts';
