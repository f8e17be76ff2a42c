// A broker outage, on a broker of this file's own: consumers and readers must come back by
// themselves, say meanwhile that they are not consuming, and let the process stop in bounded time.
import { eventually, type PrivateKafka, startPrivateKafka } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../src/admin.ts';
import { KafkaBus } from '../src/index.ts';

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

const decode = (record: { value: Buffer | null }) => Number(record.value?.toString());

describe('KafkaBus when its broker goes away', () => {
  let broker: PrivateKafka;
  const topic = (name: string) => `outage.${name}`;

  beforeAll(async () => {
    broker = await startPrivateKafka();
    await ensureTopics(
      broker.brokers,
      ['work', 'late', 'state', 'out', 'dlq'].map((name) => ({
        name,
        fullName: topic(name),
        partitions: name === 'work' ? 2 : 1,
        cleanupPolicy: 'delete' as const,
        retentionMs: 3_600_000,
        personalData: false,
        description: 'test',
      })),
    );
  }, 180_000);
  afterAll(async () => {
    await broker?.remove();
  });

  it('a consumer and a reader that lost the broker say they are not consuming, and consume again by themselves once it is back', async () => {
    const logs: LogLine[] = [];
    const bus = new KafkaBus({
      brokers: broker.brokers,
      clientId: 'outage',
      // The broker keeps a vanished member for its session: a short one keeps this test quick.
      sessionTimeoutMs: 6_000,
      log: (level, message, fields) =>
        logs.push({ level, message, fields: fields as Record<string, unknown> }),
    });
    const restarted = (consumer: string) =>
      logs.some(
        (l) => l.message === 'Kafka consumer failed; restarting it' && l.fields.consumer === consumer,
      );
    try {
      const handled: number[] = [];
      const consumer = await bus.consume({
        groupId: 'outage-work',
        topics: [topic('work')],
        deadLetterTopic: topic('dlq'),
        decode,
        handleBatch: async (batch) => {
          handled.push(...batch.records.map((r) => r.message));
        },
      });
      const followed: number[] = [];
      const reader = await bus.readFromStart({
        topics: [topic('state')],
        onRecords: (records) => {
          followed.push(...records.map(decode));
        },
      });
      const send = (name: string, from: number, to: number) =>
        bus.producer().send(
          Array.from({ length: to - from }, (_, i) => ({
            topic: topic(name),
            key: `k${from + i}`,
            value: String(from + i),
          })),
        );
      await send('work', 0, 20);
      await send('state', 0, 5);
      await eventually(30_000, () => {
        expect(new Set(handled).size).toBe(20);
        expect(followed).toHaveLength(5);
      });
      expect(consumer.consuming()).toBe(true);
      expect(reader.consuming()).toBe(true);

      await broker.stop();
      // A consumer started while the broker is down joins once it is back.
      const lateHandled: number[] = [];
      const late = bus.consume({
        groupId: 'outage-late',
        topics: [topic('late')],
        deadLetterTopic: topic('dlq'),
        decode,
        handleBatch: async (batch) => {
          lateHandled.push(...batch.records.map((r) => r.message));
        },
      });
      late.catch(() => {}); // awaited below; closing the bus first would reject it
      // Down until kafkajs gave up on every client (where a consumer used to stay dead for good) and
      // they are being restarted.
      await eventually(60_000, () => {
        expect(restarted('outage-work')).toBe(true);
        expect(restarted(`reader of ${topic('state')}`)).toBe(true);
        expect(restarted('outage-late')).toBe(true);
      });
      expect(consumer.consuming()).toBe(false);
      expect(reader.consuming()).toBe(false);
      expect(consumer.assignments()).toEqual([]);
      // The operator is told what to check: the brokers tried and the variable that names them.
      const lateRestart = logs.find(
        (l) => l.message === 'Kafka consumer failed; restarting it' && l.fields.consumer === 'outage-late',
      );
      expect(lateRestart?.fields.hint).toContain(
        `cannot reach Kafka at ${broker.brokers.join(',')} (KAFKA_BROKERS)`,
      );

      await broker.start();
      await send('work', 20, 40);
      await send('state', 5, 10);
      await send('late', 0, 3);
      await eventually(45_000, () => {
        expect(new Set(handled).size).toBe(40);
        expect(followed).toHaveLength(10);
        expect(lateHandled).toEqual([0, 1, 2]);
      });
      // The reader carried on from where it was rather than replaying the topic.
      expect(followed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(consumer.consuming()).toBe(true);
      expect(reader.consuming()).toBe(true);
      expect((await late).consuming()).toBe(true);
    } finally {
      await bus.close();
    }
  }, 180_000);

  it('close() returns within its stop timeout while the broker is down, a batch in flight and a send retrying', async () => {
    const bus = new KafkaBus({
      brokers: broker.brokers,
      clientId: 'outage-close',
      stopTimeoutMs: 2_000,
      log: () => {},
    });
    const producer = bus.producer();
    const brokerDown = Promise.withResolvers<void>();
    const entered = Promise.withResolvers<void>();
    let handlerDone = false;
    await bus.consume({
      groupId: 'outage-close',
      topics: [topic('work')],
      deadLetterTopic: topic('dlq'),
      decode,
      handleBatch: async () => {
        entered.resolve();
        await brokerDown.promise;
        // Retries for as long as kafkajs lets it: the batch cannot finish before the broker is back.
        await producer.send([{ topic: topic('out'), key: 'k', value: '1' }]);
        handlerDone = true;
      },
    });
    await bus.readFromStart({ topics: [topic('state')], onRecords: () => {} });
    await producer.send([{ topic: topic('work'), key: 'k', value: '99' }]);
    await entered.promise;
    await broker.stop();
    brokerDown.resolve();
    const pending = producer.send([{ topic: topic('out'), key: 'k', value: '2' }]);
    pending.catch(() => {});

    const started = performance.now();
    await bus.close();
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(handlerDone).toBe(false);
    await expect(producer.send([{ topic: topic('out'), key: 'k', value: '3' }])).rejects.toThrow(
      'the Kafka bus is closed',
    );
  }, 60_000);
});
