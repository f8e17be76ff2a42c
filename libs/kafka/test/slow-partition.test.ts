import { createTestTopics, eventually, type TestTopics } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../src/index.ts';

describe('KafkaBus with one slow partition', () => {
  let topics: TestTopics;
  beforeAll(() => {
    topics = createTestTopics();
  });
  afterAll(async () => {
    await topics.cleanup();
  });

  it('keeps handling the other partitions while a batch of one partition is still being handled', async () => {
    const topic = await topics.createTopic('slow', 2);
    const dlq = await topics.createTopic('slow-dlq', 1);
    const bus = new KafkaBus({ brokers: topics.brokers, clientId: 'slow-partition' });
    const release = Promise.withResolvers<void>();
    const blocked = Promise.withResolvers<number>();
    const handled: { key: string | null; partition: number }[] = [];
    let blockedPartition: number | undefined;
    try {
      await bus.consume({
        groupId: `slow-${topics.namespace}`,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: (r) => r.value?.toString(),
        handleBatch: async (batch) => {
          if (batch.records.some((r) => r.key === 'first')) {
            blockedPartition = batch.partition;
            blocked.resolve(batch.partition);
            await release.promise; // a handler waiting on something slow
          }
          handled.push(...batch.records.map((r) => ({ key: r.key, partition: batch.partition })));
        },
      });
      await bus.producer().send([{ topic, key: 'first', value: '0' }]);
      const slow = await blocked.promise;

      // Produced after the slow batch was fetched: the other partition's must not wait for it.
      await bus
        .producer()
        .send(Array.from({ length: 20 }, (_, i) => ({ topic, key: `later-${i}`, value: String(i + 1) })));
      await eventually(30_000, () => {
        expect(handled.some((h) => h.partition !== slow)).toBe(true);
      });
      expect(handled.some((h) => h.key === 'first')).toBe(false); // still being handled

      release.resolve();
      await eventually(30_000, () => expect(handled).toHaveLength(21));
      // Each partition kept its order: the slow partition's later records came after its first.
      const onSlow = handled.filter((h) => h.partition === blockedPartition).map((h) => h.key);
      expect(onSlow[0]).toBe('first');
    } finally {
      release.resolve();
      await bus.close();
    }
  }, 90_000);
});
