export {
  type BusMetricsOptions,
  instrumentBus,
  type LagSource,
  type PartitionLag,
} from './bus-metrics.ts';
export { kafkaLagSource } from './kafka-lag.ts';
export { outboxMetrics } from './outbox-metrics.ts';
