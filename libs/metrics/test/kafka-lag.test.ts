import { KafkaBus } from '@massivesms/kafka';
import { createTestTopics, eventually, testKafkaLog } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaLagSource } from '../src/index.ts';

const topics = createTestTopics();
let bus: KafkaBus;

beforeAll(() => {
  bus = new KafkaBus({ brokers: topics.brokers, clientId: 'lag-test', log: testKafkaLog });
});
afterAll(async () => {
  await bus.close();
  await topics.cleanup();
});

describe('kafkaLagSource (real Kafka)', () => {
  it('reports per partition what a group has not committed: everything before it consumes, nothing after', async () => {
    const topic = await topics.createTopic('lag', 2);
    const groupId = `${topic}.group`;
    await bus
      .producer()
      .send([
        ...Array.from({ length: 3 }, (_, i) => ({ topic, key: `a${i}`, value: 'x' })),
        ...Array.from({ length: 4 }, (_, i) => ({ topic, key: `b${i}`, value: 'x' })),
      ]);
    const source = kafkaLagSource(bus.kafka);
    try {
      const before = await source.lag([{ groupId, topics: [topic] }]);
      expect(before.map((r) => r.partition).sort()).toEqual([0, 1]);
      expect(before.reduce((sum, r) => sum + r.lag, 0)).toBe(7);
      for (const r of before) expect(r).toMatchObject({ groupId, topic });

      let seen = 0;
      const consumer = await bus.consume({
        groupId,
        topics: [topic],
        deadLetterTopic: topic,
        decode: (r) => r,
        handleBatch: async (batch) => {
          seen += batch.records.length;
        },
      });
      await eventually(30_000, async () => {
        expect(seen).toBe(7);
        const after = await source.lag([{ groupId, topics: [topic] }]);
        expect(after.map((r) => r.lag)).toEqual([0, 0]);
      });
      await consumer.stop();
    } finally {
      await source.close();
    }
  }, 60_000);
});
