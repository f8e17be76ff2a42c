import { MemoryBus } from '@massivesms/bus-memory';
import { type IncomingRecord, RecordFailedError } from '@massivesms/messaging';
import { eventually } from '@massivesms/testkit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { instrumentBus, type LagSource, type PartitionLag } from '../src/index.ts';

/** The value of the series of `name` whose labels include `labels` (undefined when absent). */
async function sample(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = (await registry.getMetricsAsJSON()).find(
    (m) => m.name === name.replace(/_(count|sum)$/, ''),
  );
  const values = (metric?.values ?? []) as {
    metricName?: string;
    value: number;
    labels: Record<string, unknown>;
  }[];
  return values.find(
    (v) =>
      (v.metricName ?? metric?.name) === name &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  )?.value;
}

function setup() {
  const memory = new MemoryBus();
  for (const t of ['in', 'out', 'dlq']) memory.createTopic(t, 2);
  const registry = new Registry();
  return { memory, registry, bus: instrumentBus(memory, { registry }) };
}

const decode = (r: IncomingRecord) => {
  const text = r.value?.toString() ?? '';
  if (text === 'garbage') throw Object.assign(new Error('not JSON'), { code: 'CONTRACT_INVALID' });
  return text;
};

describe('instrumentBus', () => {
  it('counts records processed and failed, batch errors, dead letters by code, and produced records', async () => {
    const { memory, registry, bus } = setup();
    let threw = false;
    const consumer = await bus.consume<string>({
      groupId: 'g.us',
      topics: ['in'],
      deadLetterTopic: 'dlq',
      decode,
      retryBackoffMs: { initial: 1, max: 1 },
      handleBatch: async (batch) => {
        if (!threw) {
          threw = true;
          throw new Error('database down'); // the whole batch is retried
        }
        return {
          failed: batch.records
            .filter((r) => r.message === 'poison')
            .map((record) => ({
              record,
              error: RecordFailedError.nonRetryable('PRIVACY_DECRYPT_FAILED', 'at body'),
            })),
        };
      },
    });
    await bus
      .producer()
      .send(['a', 'b', 'poison', 'garbage'].map((value) => ({ topic: 'in', key: 'k', value })));
    await eventually(5_000, () => expect(memory.records('dlq')).toHaveLength(2));
    await consumer.stop();
    const labels = { group: 'g.us', topic: 'in' };
    expect(await sample(registry, 'massivesms_consumer_batches_total', { ...labels, outcome: 'error' })).toBe(
      1,
    );
    expect(await sample(registry, 'massivesms_consumer_batches_total', { ...labels, outcome: 'ok' })).toBe(1);
    expect(
      await sample(registry, 'massivesms_consumer_records_total', { ...labels, outcome: 'processed' }),
    ).toBe(2);
    expect(
      await sample(registry, 'massivesms_consumer_records_total', { ...labels, outcome: 'failed' }),
    ).toBe(1);
    expect(
      await sample(registry, 'massivesms_consumer_dead_letters_total', {
        ...labels,
        code: 'PRIVACY_DECRYPT_FAILED',
      }),
    ).toBe(1);
    expect(
      await sample(registry, 'massivesms_consumer_dead_letters_total', {
        ...labels,
        code: 'CONTRACT_INVALID',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(await sample(registry, 'massivesms_consumer_batch_duration_seconds_count', labels)).toBe(2);
    expect(await sample(registry, 'massivesms_producer_records_total', { topic: 'in', outcome: 'ok' })).toBe(
      4,
    );
    expect(await sample(registry, 'massivesms_producer_send_duration_seconds_count', { outcome: 'ok' })).toBe(
      1,
    );
  });

  it('counts a refused send as an error and rethrows it', async () => {
    const { registry, bus } = setup();
    await expect(bus.producer().send([{ topic: 'no-such-topic', key: null, value: 'x' }])).rejects.toThrow();
    expect(
      await sample(registry, 'massivesms_producer_records_total', {
        topic: 'no-such-topic',
        outcome: 'error',
      }),
    ).toBe(1);
  });

  it('reads lag at most once per interval, keeps the last values when a read fails, and closes the source', async () => {
    const memory = new MemoryBus();
    memory.createTopic('in', 2);
    const registry = new Registry();
    let reads = 0;
    let fail = false;
    let closed = false;
    const rows: PartitionLag[] = [
      { groupId: 'g.us', topic: 'in', partition: 0, lag: 7 },
      { groupId: 'g.us', topic: 'in', partition: 1, lag: 0 },
    ];
    const lag: LagSource = {
      async lag(groups) {
        reads++;
        expect(groups).toEqual([{ groupId: 'g.us', topics: ['in'] }]);
        if (fail) throw new Error('admin API down');
        return rows;
      },
      async close() {
        closed = true;
      },
    };
    const bus = instrumentBus(memory, { registry, lag, lagMinIntervalMs: 60_000 });
    const consumer = await bus.consume<string>({
      groupId: 'g.us',
      topics: ['in'],
      deadLetterTopic: 'in',
      decode,
      handleBatch: async () => {},
    });
    expect(await sample(registry, 'massivesms_consumer_lag_records', { partition: '0' })).toBe(7);
    expect(await sample(registry, 'massivesms_consumer_lag_records', { partition: '1' })).toBe(0);
    await registry.metrics();
    expect(reads).toBe(1); // the second scrape within the interval used the cached values
    await consumer.stop();
    await bus.close();
    expect(closed).toBe(true);

    // A failed read keeps the previous values and is counted.
    const registry2 = new Registry();
    const bus2 = instrumentBus(memory, { registry: registry2, lag, lagMinIntervalMs: 0 });
    const c2 = await bus2.consume<string>({
      groupId: 'g.us',
      topics: ['in'],
      deadLetterTopic: 'in',
      decode,
      handleBatch: async () => {},
    });
    expect(await sample(registry2, 'massivesms_consumer_lag_records', { partition: '0' })).toBe(7);
    fail = true;
    expect(await sample(registry2, 'massivesms_consumer_lag_records', { partition: '0' })).toBe(7);
    // Every scrape reads (interval 0), this one too: each failed read is counted.
    expect(await sample(registry2, 'massivesms_consumer_lag_read_errors_total')).toBe(2);
    await c2.stop();
  });
});
