// Outbox depth and drain time from the relay's own passes (libs/outbox `onDepth`): no query per scrape.
import { Gauge, type Registry } from 'prom-client';

const depthGauges = new WeakMap<Registry, { pending: Gauge<'table'>; drained: Gauge<'table'> }>();

/** The relay hook that exports `massivesms_outbox_pending_rows` and `…_drained_timestamp_seconds`. */
export function outboxMetrics(registry: Registry, table: string): { onDepth: (rows: number) => void } {
  let gauges = depthGauges.get(registry);
  if (!gauges) {
    gauges = {
      pending: new Gauge({
        name: 'massivesms_outbox_pending_rows',
        help: 'Outbox rows waiting to be published, after the last pass of this process relay (capped at 100000; a relay that does not hold the table lock keeps its last value).',
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
    onDepth(rows) {
      pending.set({ table }, rows);
      if (rows === 0) drained.set({ table }, Date.now() / 1_000);
    },
  };
}
