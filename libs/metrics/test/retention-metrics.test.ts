import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { retentionMetrics } from '../src/index.ts';

describe('retentionMetrics', () => {
  it('adds each purge pass’s deleted rows to its table’s counter, across passes and hooks of one registry', async () => {
    const registry = new Registry();
    retentionMetrics(registry).onPurged({ webhook_deliveries: 3, webhook_attempts: 5 });
    retentionMetrics(registry).onPurged({ webhook_deliveries: 2, webhook_attempts: 0 });
    const metric = await registry.getSingleMetric('massivesms_retention_purged_rows_total')?.get();
    const byTable = Object.fromEntries((metric?.values ?? []).map((v) => [v.labels.table, v.value]));
    expect(byTable).toEqual({ webhook_deliveries: 5, webhook_attempts: 5 });
  });
});
