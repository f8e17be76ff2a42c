// Rows deleted by the retention purge (libs/directory `purgeExpired`), per table: no personal data in labels.
import { Counter, type Registry } from 'prom-client';

const purgedCounters = new WeakMap<Registry, Counter<'table'>>();

/** Counts a purge pass's deleted rows per table in `massivesms_retention_purged_rows_total`. */
export function retentionMetrics(registry: Registry): { onPurged: (rows: Record<string, number>) => void } {
  let purged = purgedCounters.get(registry);
  if (!purged) {
    purged = new Counter({
      name: 'massivesms_retention_purged_rows_total',
      help: "Rows deleted because they were past their controller's instruction retention, per table.",
      labelNames: ['table'] as const,
      registers: [registry],
    });
    purgedCounters.set(registry, purged);
  }
  const counter = purged;
  return {
    onPurged(rows) {
      for (const [table, n] of Object.entries(rows)) if (n > 0) counter.inc({ table }, n);
    },
  };
}
