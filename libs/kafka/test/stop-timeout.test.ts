import { createTestTopics, type TestTopics } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../src/index.ts';

describe('KafkaBus stop timeout', () => {
  let topics: TestTopics;
  beforeAll(() => {
    topics = createTestTopics();
  });
  afterAll(async () => {
    await topics.cleanup();
  });

  it('a consumer whose batch never finishes is abandoned once stopTimeoutMs has passed', async () => {
    const topic = await topics.createTopic('stuck', 1);
    const dlq = await topics.createTopic('stuck-dlq', 1);
    const logs: string[] = [];
    const bus = new KafkaBus({
      brokers: topics.brokers,
      clientId: 'stop-timeout',
      stopTimeoutMs: 1_000,
      log: (_level, message) => logs.push(message),
    });
    const entered = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const consumer = await bus.consume({
      groupId: `stuck-${topics.namespace}`,
      topics: [topic],
      deadLetterTopic: dlq,
      decode: (r) => r.value?.toString(),
      handleBatch: async () => {
        entered.resolve();
        await release.promise; // a handler stuck on something that never answers
      },
    });
    await bus.producer().send([{ topic, key: 'k', value: 'stuck' }]);
    await entered.promise;
    expect(consumer.consuming()).toBe(true);

    const started = performance.now();
    await consumer.stop();
    // It waited for the batch, up to the timeout.
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(consumer.consuming()).toBe(false);
    expect(logs).toContain('Kafka consumer did not stop in time; abandoned');
    release.resolve();
    await bus.close();
  }, 60_000);
});
