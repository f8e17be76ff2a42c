// Outbox depth and drain time from the relay's own passes (libs/outbox `onDepth`): no query per scrape.
import { Gauge, type Registry } from 'prom-client';

const depthGauges = new WeakMap<Registry, { pending: Gauge<'table'>; drained: Gauge<'table'> }>();

/** The relay hook that exports `massivesms_outbox_pending_records` and `…_drained_timestamp_seconds`. */
export function outboxMetrics(registry: Registry, table: string): { onDepth: (records: number) => void } {
  let gauges = depthGauges.get(registry);
  if (!gauges) {
    gauges = {
      pending: new Gauge({
        name: 'massivesms_outbox_pending_records',
        help: 'Outbox records waiting to be published, after the last pass of this process relay (summed over at most 100000 rows; a relay that does not hold the table lock keeps its last value).',
        labelNames: ['table'] as const,
        registers: [registry],
      }),
      drained: new Gauge({
        name: 'massivesms_outbox_drained_timestamp_seconds',
        help: 'When this process relay last found its outbox table caught up, or started (Unix seconds).',
        labelNames: ['table'] as const,
        registers: [registry],
      }),
    };
    depthGauges.set(registry, gauges);
  }
  const { pending, drained } = gauges;
  pending.set({ table }, 0);
  drained.set({ table }, Date.now() / 1_000);
  return {
    onDepth(records) {
      pending.set({ table }, records);
      if (records === 0) drained.set({ table }, Date.now() / 1_000);
    },
  };
}
