import { errorCodes } from '@massivesms/contracts';
import {
  type ConsumerHandle,
  type DecodedRecord,
  deadLetterHeaders,
  type IncomingRecord,
  RecordFailedError,
  UNCLASSIFIED_FAILURE_CODE,
} from '@massivesms/messaging';
import { createTestTopics, eventually, type TestTopics, testKafkaLog } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeadLetterTopics,
  deadLetterTopics,
  KafkaBus,
  listDeadLetters,
  replayDeadLetters,
} from '../src/index.ts';

// Dead letters on a real broker: a record fails until its cause is fixed, the operator lists the
// dead letters and replays them, and the consumer then processes the record.
describe('dead letters: list and replay (real Kafka)', () => {
  let topics: TestTopics;
  let bus: KafkaBus;
  let cell: DeadLetterTopics;
  const consumers: ConsumerHandle[] = [];

  /** A consumer of `topic` that fails `{n: 13}` while `broken` is set, and records what it handled. */
  const startConsumer = async (topic: string, failure: () => RecordFailedError, omitValue = false) => {
    const state = { broken: true, handled: [] as DecodedRecord<{ n: number }>[] };
    consumers.push(
      await bus.consume({
        groupId: `${topics.namespace}.${topic}.group`,
        topics: [topic],
        deadLetterTopic: cell.deadLetters,
        ...(omitValue ? { deadLetterValue: 'omit' as const } : {}),
        decode: (r) => JSON.parse(r.value!.toString()) as { n: number },
        maxAttempts: 2,
        retryBackoffMs: { initial: 20, max: 50 },
        handleBatch: async (batch) => {
          const failed = [];
          for (const r of batch.records) {
            if (r.message.n === 13 && state.broken) failed.push({ record: r, error: failure() });
            else state.handled.push(r);
          }
          return { failed };
        },
      }),
    );
    return state;
  };
  const send = (topic: string, n: number) =>
    bus
      .producer()
      .send([
        { topic, key: `k${n}`, value: JSON.stringify({ n }), headers: { region: 'us', controller: 'acme' } },
      ]);
  const deadLettersOf = async (topic: string) =>
    (await listDeadLetters(bus, cell)).filter((d) => d.source.topic === topic);
  const recordsOf = async (topic: string) => {
    const got: IncomingRecord[] = [];
    const reader = await bus.readFromStart({ topics: [topic], onRecords: (r) => void got.push(...r) });
    await reader.caughtUp;
    await reader.stop();
    return got;
  };

  beforeAll(async () => {
    topics = createTestTopics();
    await topics.provisionCell('us', 2);
    bus = new KafkaBus({ brokers: topics.brokers, clientId: 'dead-letters-test', log: testKafkaLog });
    cell = deadLetterTopics('us', topics.namespace);
  });
  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    await bus.close();
    await topics.cleanup();
  });

  it('every code a dead letter can carry is in the error registry', () => {
    for (const code of [UNCLASSIFIED_FAILURE_CODE, 'PRIVACY_KEYS_UNAVAILABLE', 'PRIVACY_DECRYPT_FAILED']) {
      expect(errorCodes).toHaveProperty(code);
    }
  });

  it('lists a dead letter with its origin; replayed after the fix, the record is processed, and a second replay adds nothing', async () => {
    const source = await topics.createTopic('status-like', 2);
    const consumer = await startConsumer(source, () =>
      RecordFailedError.retryable('PRIVACY_KEYS_UNAVAILABLE', 'keys of controller acme are not available'),
    );
    await send(source, 13);
    await send(source, 1);
    await eventually(30_000, async () => expect(await deadLettersOf(source)).toHaveLength(1));
    const [dead] = await deadLettersOf(source);
    expect(dead).toMatchObject({
      code: 'PRIVACY_KEYS_UNAVAILABLE',
      reason: 'keys of controller acme are not available',
      attempts: 2,
      retryable: true,
      valueKept: true,
      groupId: `${topics.namespace}.${source}.group`,
      replayedAt: undefined,
    });
    expect(dead!.id).toBe(`${dead!.partition}:${dead!.offset}`);
    await eventually(10_000, () => expect(consumer.handled.map((r) => r.message)).toEqual([{ n: 1 }]));

    consumer.broken = false; // the operator fixed the cause
    const first = await replayDeadLetters(bus, cell, [dead!]);
    expect(first.replayed.map((d) => d.id)).toEqual([dead!.id]);
    await eventually(30_000, () => expect(consumer.handled.map((r) => r.message)).toContainEqual({ n: 13 }));
    const replayed = consumer.handled.find((r) => r.message.n === 13)!;
    expect(replayed.key).toBe('k13');
    expect(replayed.headers).toEqual({ region: 'us', controller: 'acme' }); // no dlq- headers

    const [listed] = await deadLettersOf(source);
    expect(listed!.replayedAt).toBe(first.replayed[0]!.replayedAt);
    const second = await replayDeadLetters(bus, cell, [listed!]);
    expect(second.replayed).toEqual([]);
    expect(second.alreadyReplayed.map((d) => d.id)).toEqual([dead!.id]);
    const thirteens = (await recordsOf(source)).filter((r) => r.value?.toString() === '{"n":13}');
    expect(thirteens).toHaveLength(2); // the original and one replay
  });

  it('a dead letter without its value is replayed with the value read back from the source topic', async () => {
    const source = await topics.createTopic('requested-like', 2);
    const consumer = await startConsumer(
      source,
      () => RecordFailedError.nonRetryable('TEST_POISON', 'refused until fixed'),
      true,
    );
    await send(source, 13);
    await eventually(30_000, async () => expect(await deadLettersOf(source)).toHaveLength(1));
    const [dead] = await deadLettersOf(source);
    expect(dead!.valueKept).toBe(false);
    expect(dead!.record.value).toBeNull();
    expect(dead!.record.headers[deadLetterHeaders.value]).toBe('omitted');

    consumer.broken = false;
    const outcome = await replayDeadLetters(bus, cell, [dead!]);
    expect(outcome.replayed).toHaveLength(1);
    await eventually(30_000, () => expect(consumer.handled.map((r) => r.message)).toEqual([{ n: 13 }]));
  });

  it('a dead letter without its value whose source record is gone is reported, and nothing is produced', async () => {
    const source = await topics.createTopic('expired-like', 1);
    await startConsumer(source, () => RecordFailedError.nonRetryable('TEST_POISON', 'refused'), true);
    await send(source, 13);
    await eventually(30_000, async () => expect(await deadLettersOf(source)).toHaveLength(1));
    const [dead] = await deadLettersOf(source);
    // What retention does after a few days: the log no longer starts at the record.
    const admin = bus.kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [source] });
    await admin.deleteTopicRecords({ topic: source, partitions: [{ partition: 0, offset: '-1' }] });
    await admin.disconnect();

    const outcome = await replayDeadLetters(bus, cell, [dead!]);
    expect(outcome.sourceGone.map((d) => d.id)).toEqual([dead!.id]);
    expect(outcome.replayed).toEqual([]);
    expect((await deadLettersOf(source))[0]!.replayedAt).toBeUndefined();
  });
});
