// The behaviour every MessageBus adapter must have. libs/kafka runs it against a real broker and
// libs/bus-memory against the in-process bus; a difference between them is a bug in one adapter.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConsumerHandle,
  type ConsumerOptions,
  type DecodedRecord,
  deadLetterHeaders,
  type FailedRecord,
  type IncomingRecord,
  type MessageBus,
  RecordFailedError,
} from './port.ts';
import { startStateView } from './state-view.ts';

/** What an adapter provides to the suite. */
export interface ContractHarness {
  readonly bus: MessageBus;
  /** Creates a fresh topic with that many partitions and returns its full name. */
  createTopic(partitions: number): Promise<string>;
  /** How long to wait for asynchronous effects (a real broker is slower). */
  readonly patienceMs: number;
  teardown(): Promise<void>;
}

class Undecodable extends Error {
  readonly code = 'TEST_UNDECODABLE';
  readonly field = 'n';
}

/** JSON `{n: number}`; anything else is undecodable. */
function decodeN(record: IncomingRecord): { n: number } {
  const text = record.value?.toString('utf8') ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Undecodable('value is not JSON');
  }
  if (!parsed || typeof parsed !== 'object' || typeof (parsed as { n?: unknown }).n !== 'number') {
    throw new Undecodable('n must be a number');
  }
  return parsed as { n: number };
}

async function eventually(patienceMs: number, check: () => void): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Registers the messaging contract tests for one adapter. */
export function messagingContract(adapter: string, makeHarness: () => Promise<ContractHarness>): void {
  describe(`messaging contract: ${adapter}`, () => {
    let h: ContractHarness;
    const handles: ConsumerHandle[] = [];
    const group = () => `g-${randomUUID()}`;
    const start = async <T>(options: ConsumerOptions<T>) => {
      const handle = await h.bus.consume(options);
      handles.push(handle);
      return handle;
    };

    beforeAll(async () => {
      h = await makeHarness();
    });
    afterAll(async () => {
      await Promise.all(handles.map((c) => c.stop()));
      await h.teardown();
    });

    it('keeps records with one key in the order they were produced', async () => {
      const topic = await h.createTopic(4);
      const dlq = await h.createTopic(1);
      const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
      for (let n = 0; n < 20; n++) {
        await h.bus.producer().send(keys.map((key) => ({ topic, key, value: JSON.stringify({ n }) })));
      }
      const seen = new Map<string, number[]>();
      await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        maxBatchSize: 7,
        handleBatch: async (batch) => {
          for (const r of batch.records) seen.set(r.key!, [...(seen.get(r.key!) ?? []), r.message.n]);
        },
      });
      await eventually(h.patienceMs, () => expect([...seen.values()].flat()).toHaveLength(100));
      for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    });

    it('splits the partitions of a topic among the members of a group', async () => {
      const topic = await h.createTopic(4);
      const dlq = await h.createTopic(1);
      const groupId = group();
      const partitionsSeen = [new Set<number>(), new Set<number>()];
      const consumerFor = (i: 0 | 1) =>
        start({
          groupId,
          topics: [topic],
          deadLetterTopic: dlq,
          decode: decodeN,
          handleBatch: async (batch) => {
            partitionsSeen[i]!.add(batch.partition);
          },
        });
      const a = await consumerFor(0);
      const b = await consumerFor(1);
      await eventually(h.patienceMs, () => {
        expect(a.assignments().length).toBe(2);
        expect(b.assignments().length).toBe(2);
      });
      const owned = [...a.assignments(), ...b.assignments()].map((x) => x.partition).sort();
      expect(owned).toEqual([0, 1, 2, 3]);

      await h.bus
        .producer()
        .send(Array.from({ length: 200 }, (_, n) => ({ topic, key: `k${n}`, value: JSON.stringify({ n }) })));
      await eventually(h.patienceMs, () => expect(partitionsSeen[0]!.size + partitionsSeen[1]!.size).toBe(4));
      expect([...partitionsSeen[0]!].filter((p) => partitionsSeen[1]!.has(p))).toEqual([]);
      expect(partitionsSeen[0]!.size).toBeGreaterThan(0);
      expect(partitionsSeen[1]!.size).toBeGreaterThan(0);
    });

    it('redelivers records whose batch was never committed to the next member after a crash', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      const groupId = group();
      await h.bus.producer().send([
        { topic, key: 'a', value: JSON.stringify({ n: 1 }) },
        { topic, key: 'a', value: JSON.stringify({ n: 2 }) },
      ]);
      const firstSaw: number[] = [];
      const first = await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        retryBackoffMs: { initial: 20, max: 50 },
        handleBatch: async (batch) => {
          firstSaw.push(...batch.records.map((r) => r.message.n));
          throw new Error('database unavailable'); // the effects never became durable
        },
      });
      await eventually(h.patienceMs, () => expect(firstSaw.length).toBeGreaterThanOrEqual(2));
      await first.stop();

      const secondSaw: number[] = [];
      await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async (batch) => {
          secondSaw.push(...batch.records.map((r) => r.message.n));
        },
      });
      await eventually(h.patienceMs, () => expect(secondSaw).toEqual([1, 2]));
    });

    it('does not redeliver what a member committed before it stopped', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      const groupId = group();
      const send = (n: number) => h.bus.producer().send([{ topic, key: 'a', value: JSON.stringify({ n }) }]);
      await send(1);
      const firstSaw: number[] = [];
      const first = await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async (batch) => {
          firstSaw.push(...batch.records.map((r) => r.message.n));
        },
      });
      await eventually(h.patienceMs, () => expect(firstSaw).toEqual([1]));
      await first.stop();
      await send(2);
      const secondSaw: number[] = [];
      await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async (batch) => {
          secondSaw.push(...batch.records.map((r) => r.message.n));
        },
      });
      await eventually(h.patienceMs, () => expect(secondSaw).toEqual([2]));
    });

    it('round-trips keys and headers', async () => {
      const topic = await h.createTopic(2);
      const dlq = await h.createTopic(1);
      const headers = {
        region: 'eu',
        controller: 'acme-eu',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'x-unicode': 'Zürich ✓',
      };
      await h.bus.producer().send([{ topic, key: 'ps_abc', value: JSON.stringify({ n: 7 }), headers }]);
      const got: DecodedRecord<{ n: number }>[] = [];
      await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async (batch) => {
          got.push(...batch.records);
        },
      });
      await eventually(h.patienceMs, () => expect(got).toHaveLength(1));
      expect(got[0]!.key).toBe('ps_abc');
      expect(got[0]!.headers).toEqual(headers);
      expect(got[0]!.message).toEqual({ n: 7 });
      expect(got[0]!.offset).toMatch(/^\d+$/);
    });

    it('sends an undecodable record to the dead-letter topic with its original bytes and moves on', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      const groupId = group();
      const garbage = Buffer.from([0x7b, 0xff, 0x00, 0x22]);
      await h.bus.producer().send([
        { topic, key: 'k', value: JSON.stringify({ n: 1 }) },
        { topic, key: 'k', value: garbage, headers: { region: 'us' } },
        { topic, key: 'k', value: JSON.stringify({ n: 'three' }) },
        { topic, key: 'k', value: JSON.stringify({ n: 4 }) },
      ]);
      const handled: number[] = [];
      await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async (batch) => {
          handled.push(...batch.records.map((r) => r.message.n));
        },
      });
      const dead: IncomingRecord[] = [];
      await start({
        groupId: group(),
        topics: [dlq],
        deadLetterTopic: dlq,
        decode: (r) => r,
        handleBatch: async (batch) => {
          dead.push(...batch.records);
        },
      });
      await eventually(h.patienceMs, () => {
        expect(handled).toEqual([1, 4]);
        expect(dead).toHaveLength(2);
      });
      const [first, second] = dead;
      expect(first!.value).toEqual(garbage);
      expect(first!.key).toBe('k');
      expect(first!.headers).toMatchObject({
        region: 'us',
        [deadLetterHeaders.code]: 'TEST_UNDECODABLE',
        [deadLetterHeaders.reason]: 'value is not JSON',
        [deadLetterHeaders.topic]: topic,
        [deadLetterHeaders.partition]: '0',
        [deadLetterHeaders.offset]: '1',
        [deadLetterHeaders.groupId]: groupId,
      });
      expect(second!.headers[deadLetterHeaders.reason]).toBe('n must be a number');
      expect(second!.headers[deadLetterHeaders.field]).toBe('n');
    });

    it('finishes the batch in flight and commits it when stopped gracefully', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      const groupId = group();
      await h.bus.producer().send([{ topic, key: 'k', value: JSON.stringify({ n: 1 }) }]);
      let release: () => void = () => {};
      const entered = Promise.withResolvers<void>();
      let finished = false;
      const first = await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async () => {
          entered.resolve();
          await new Promise<void>((r) => {
            release = r;
          });
          finished = true;
        },
      });
      await entered.promise;
      const stopping = first.stop();
      release();
      await stopping;
      expect(finished).toBe(true);
      await h.bus.producer().send([{ topic, key: 'k', value: JSON.stringify({ n: 2 }) }]);
      const secondSaw: number[] = [];
      await start({
        groupId,
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async (batch) => {
          secondSaw.push(...batch.records.map((r) => r.message.n));
        },
      });
      await eventually(h.patienceMs, () => expect(secondSaw).toEqual([2]));
    });

    it('a running consumer, reader and state view report that they consume; stopped ones do not', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      const consumer = await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        handleBatch: async () => {},
      });
      const reader = await h.bus.readFromStart({ topics: [topic], onRecords: () => {} });
      const view = await startStateView({ bus: h.bus, topic, decode: (value) => value.toString() });
      expect([consumer.consuming(), reader.consuming(), view.consuming()]).toEqual([true, true, true]);
      await Promise.all([consumer.stop(), reader.stop(), view.stop()]);
      expect([consumer.consuming(), reader.consuming(), view.consuming()]).toEqual([false, false, false]);
      expect(consumer.assignments()).toEqual([]);
    });

    it('a reader replays a topic from its start, says when it caught up, then follows new records', async () => {
      const topic = await h.createTopic(3);
      await h.bus
        .producer()
        .send(Array.from({ length: 30 }, (_, n) => ({ topic, key: `k${n}`, value: JSON.stringify({ n }) })));
      const seen: number[] = [];
      const reader = await h.bus.readFromStart({
        topics: [topic],
        onRecords: (records) => {
          for (const r of records) seen.push(decodeN(r).n);
        },
      });
      await reader.caughtUp;
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, n) => n));
      await h.bus.producer().send([{ topic, key: 'late', value: JSON.stringify({ n: 99 }) }]);
      await eventually(h.patienceMs, () => expect(seen).toContain(99));
      await reader.stop();
    });

    it('a reader of empty topics is caught up at once', async () => {
      const topic = await h.createTopic(2);
      const reader = await h.bus.readFromStart({ topics: [topic], onRecords: () => {} });
      await reader.caughtUp;
      await reader.stop();
    });

    it('a state view keeps the latest value per key, drops tombstoned keys and ignores older revisions', async () => {
      const topic = await h.createTopic(2);
      const put = (key: string, value: object | null) =>
        h.bus.producer().send([{ topic, key, value: value === null ? null : JSON.stringify(value) }]);
      await put('a', { n: 1 });
      await put('b', { n: 1 });
      await put('a', { n: 2 });
      await put('b', null);
      await put('c', { n: 5 });
      const view = await startStateView({
        bus: h.bus,
        topic,
        decode: (value) => JSON.parse(value.toString()) as { n: number },
        revision: (v) => v.n,
      });
      await view.ready;
      expect(view.get('a')).toEqual({ n: 2 });
      expect(view.get('b')).toBeUndefined();
      expect(view.size).toBe(2);
      const changes: string[] = [];
      view.onChange((key, value) => changes.push(`${key}=${value?.n ?? 'deleted'}`));
      await put('c', { n: 4 }); // an older revision republished: ignored
      await put('a', { n: 3 });
      await eventually(h.patienceMs, () => expect(view.get('a')).toEqual({ n: 3 }));
      expect(view.get('c')).toEqual({ n: 5 });
      expect(changes).toEqual(['a=3']);
      await view.stop();
    });

    // Dead letters for records the handler reports as failed (a poison record never stalls a partition).

    /** Every record of a topic as it stands (dead letters are acknowledged before the commit). */
    const readAll = async (topic: string) => {
      const got: IncomingRecord[] = [];
      const reader = await h.bus.readFromStart({ topics: [topic], onRecords: (r) => void got.push(...r) });
      await reader.caughtUp;
      await reader.stop();
      return got;
    };
    /** Sends `{n}` records to a one-partition topic, all under one key. */
    const sendN = (topic: string, ns: number[], headers?: Record<string, string>) =>
      h.bus
        .producer()
        .send(
          ns.map((n) => ({ topic, key: 'k', value: JSON.stringify({ n }), ...(headers ? { headers } : {}) })),
        );
    /** A handler that fails the records `fail` picks (with the error it returns) and records the rest. */
    const failing = (fail: (n: number, call: number) => unknown | undefined) => {
      const handled: number[] = [];
      const calls = new Map<number, number>();
      const batches: number[][] = [];
      return {
        handled,
        calls,
        batches,
        handleBatch: async (batch: { records: readonly DecodedRecord<{ n: number }>[] }) => {
          batches.push(batch.records.map((r) => r.message.n));
          const failed: FailedRecord[] = [];
          for (const r of batch.records) {
            const call = (calls.get(r.message.n) ?? 0) + 1;
            calls.set(r.message.n, call);
            const error = fail(r.message.n, call);
            if (error === undefined) handled.push(r.message.n);
            else failed.push({ record: r, error });
          }
          return { failed };
        },
      };
    };

    it('dead-letters a record the handler reports as permanently failed at once, with its origin, and moves on', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      const groupId = group();
      await sendN(topic, [1]);
      await sendN(topic, [13], { region: 'us' });
      await sendN(topic, [3]);
      const handler = failing((n) =>
        n === 13
          ? RecordFailedError.nonRetryable('TEST_POISON', 'n 13 cannot be handled', { field: 'n' })
          : undefined,
      );
      await start({ groupId, topics: [topic], deadLetterTopic: dlq, decode: decodeN, ...handler });
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([1, 3]));
      await sendN(topic, [4]); // the partition moved on: the batch with the poison record was committed
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([1, 3, 4]));
      expect(handler.calls.get(13)).toBe(1);
      const dead = await readAll(dlq);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.value?.toString()).toBe(JSON.stringify({ n: 13 }));
      expect(dead[0]!.key).toBe('k');
      expect(dead[0]!.headers).toMatchObject({
        region: 'us',
        [deadLetterHeaders.code]: 'TEST_POISON',
        [deadLetterHeaders.reason]: 'n 13 cannot be handled',
        [deadLetterHeaders.field]: 'n',
        [deadLetterHeaders.topic]: topic,
        [deadLetterHeaders.partition]: '0',
        [deadLetterHeaders.offset]: '1',
        [deadLetterHeaders.groupId]: groupId,
        [deadLetterHeaders.attempts]: '1',
        [deadLetterHeaders.retryable]: 'false',
        [deadLetterHeaders.value]: 'original',
      });
    });

    it('hands a record that fails with a retryable error back alone, after a backoff, until it succeeds', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      await sendN(topic, [1, 7, 3]);
      const handler = failing((n, call) =>
        n === 7 && call <= 2 ? RecordFailedError.retryable('TEST_BUSY', 'key service busy') : undefined,
      );
      await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        maxAttempts: 5,
        retryBackoffMs: { initial: 10, max: 20 },
        ...handler,
      });
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([1, 3, 7]));
      expect(handler.batches.slice(0, 3)).toEqual([[1, 7, 3], [7], [7]]);
      await sendN(topic, [9]);
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([1, 3, 7, 9]));
      expect(await readAll(dlq)).toEqual([]);
    });

    it('dead-letters a record whose retryable failures outlast maxAttempts, with the count and no uncoded message', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      await sendN(topic, [1, 13, 3]);
      // An error without a code may quote input: its message must not reach the dead letter.
      const handler = failing((n) => (n === 13 ? new Error('timeout looking up +14155552671') : undefined));
      const seen: string[] = [];
      await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        maxAttempts: 3,
        retryBackoffMs: { initial: 10, max: 20 },
        onRecordFailed: (_error, r) => seen.push(`${r.offset}:${r.attempt}:${r.outcome}`),
        ...handler,
      });
      await eventually(h.patienceMs, () => expect(seen).toHaveLength(3));
      await sendN(topic, [4]);
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([1, 3, 4]));
      expect(handler.calls.get(13)).toBe(3);
      expect(seen).toEqual(['1:1:retry', '1:2:retry', '1:3:dead-letter']);
      const dead = await readAll(dlq);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.headers).toMatchObject({
        [deadLetterHeaders.code]: 'RECORD_UNPROCESSABLE',
        [deadLetterHeaders.reason]: 'Error (message withheld: the error has no code)',
        [deadLetterHeaders.offset]: '1',
        [deadLetterHeaders.attempts]: '3',
        [deadLetterHeaders.retryable]: 'true',
      });
      expect(JSON.stringify(dead[0]!.headers)).not.toContain('+1415');
    });

    it('a consumer that omits values dead-letters key and headers only', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      await sendN(topic, [13, 2], { controller: 'acme' });
      const handler = failing((n) =>
        n === 13 ? RecordFailedError.nonRetryable('TEST_POISON', 'no') : undefined,
      );
      await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        deadLetterValue: 'omit',
        decode: decodeN,
        ...handler,
      });
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([2]));
      await sendN(topic, [3]);
      await eventually(h.patienceMs, () => expect(handler.handled).toEqual([2, 3]));
      const dead = await readAll(dlq);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.value).toBeNull();
      expect(dead[0]!.key).toBe('k');
      expect(dead[0]!.headers).toMatchObject({
        controller: 'acme',
        [deadLetterHeaders.value]: 'omitted',
        [deadLetterHeaders.offset]: '0',
      });
    });

    it('a batch whose handler throws is retried past maxAttempts and dead-letters nothing', async () => {
      const topic = await h.createTopic(1);
      const dlq = await h.createTopic(1);
      await sendN(topic, [1, 2]);
      let throws = 4;
      const handled: number[] = [];
      await start({
        groupId: group(),
        topics: [topic],
        deadLetterTopic: dlq,
        decode: decodeN,
        maxAttempts: 2,
        retryBackoffMs: { initial: 10, max: 20 },
        handleBatch: async (batch) => {
          if (throws-- > 0) throw new Error('database unavailable'); // every record alike: an outage
          handled.push(...batch.records.map((r) => r.message.n));
        },
      });
      await eventually(h.patienceMs, () => expect(handled).toEqual([1, 2]));
      await sendN(topic, [3]);
      await eventually(h.patienceMs, () => expect(handled).toEqual([1, 2, 3]));
      expect(await readAll(dlq)).toEqual([]);
    });
  });
}
