import type { ConsumerHandle, ConsumerOptions, IncomingRecord, ReaderHandle } from '@massivesms/messaging';
import { startStateView } from '@massivesms/messaging';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../src/index.ts';

// Retention of the in-memory bus: a partition keeps only what a subscribed group has not committed
// or a running reader has not read (compacted topics: plus the latest record per key).

const waitFor = (check: () => void) => vi.waitFor(check, { timeout: 5_000, interval: 10 });

/** Holds handlers until the test lets them through: one call per `release`, or all after `open`. */
class Gate {
  #permits = 0;
  #open = false;
  readonly #waiting: (() => void)[] = [];
  wait(): Promise<void> {
    if (this.#open) return Promise.resolve();
    if (this.#permits > 0) {
      this.#permits--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#permits++;
  }
  open(): void {
    this.#open = true;
    for (const next of this.#waiting.splice(0)) next();
  }
}

/** Offsets per partition, as numbers. */
function byPartition(records: readonly IncomingRecord[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of records) out.set(r.partition, [...(out.get(r.partition) ?? []), Number(r.offset)]);
  return out;
}

describe('in-memory bus retention', () => {
  let bus: MemoryBus;
  const cleanups: (() => unknown)[] = [];
  const gates: Gate[] = [];
  const gate = () => {
    const g = new Gate();
    gates.push(g);
    return g;
  };
  afterEach(async () => {
    for (const g of gates.splice(0)) g.open(); // a held handler would keep its consumer from stopping
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await bus.close();
  });

  const setUp = (partitions: number, cleanupPolicy: 'delete' | 'compact' = 'delete') => {
    bus = new MemoryBus();
    bus.createTopic('t', partitions, { cleanupPolicy });
    bus.createTopic('dlq', 1);
  };
  const produce = (from: number, count: number) =>
    bus.producer().send(
      Array.from({ length: count }, (_, i) => ({
        topic: 't',
        key: `k${(from + i) % 97}`,
        value: JSON.stringify({ n: from + i }),
      })),
    );
  const consume = async (
    groupId: string,
    handleBatch: ConsumerOptions<IncomingRecord>['handleBatch'],
    maxBatchSize = 500,
  ): Promise<ConsumerHandle> => {
    const handle = await bus.consume({
      groupId,
      topics: ['t'],
      deadLetterTopic: 'dlq',
      decode: (r) => r,
      maxBatchSize,
      retryBackoffMs: { initial: 5, max: 10 },
      handleBatch,
    });
    cleanups.push(() => handle.stop());
    return handle;
  };
  /** A group that handles everything it is given; returns the offsets it saw. */
  const drain = async (groupId: string) => {
    const seen: IncomingRecord[] = [];
    await consume(groupId, async (batch) => void seen.push(...batch.records));
    return seen;
  };

  it('keeps 10,000 records until the slower of two groups has committed them, then drops them', async () => {
    setUp(2);
    const slow = gate();
    const committedBySlow = new Map<number, number>();
    await consume(
      'slow',
      async (batch) => {
        await slow.wait();
        committedBySlow.set(batch.partition, Number(batch.records.at(-1)!.offset) + 1);
      },
      1_000,
    );
    const fast = await drain('fast');
    await produce(0, 10_000);
    await waitFor(() => expect(fast).toHaveLength(10_000));
    expect(bus.retainedCount('t')).toBe(10_000);

    for (let step = 1; step <= 4; step++) {
      slow.release();
      const handled = () => [...committedBySlow.values()].reduce((a, b) => a + b, 0);
      await waitFor(() => expect(handled()).toBe(step * 1_000));
      await waitFor(() => expect(bus.retainedCount('t')).toBe(10_000 - handled()));
      // What is left starts where the slow group committed, with the offsets given at produce.
      for (const [partition, offsets] of byPartition(bus.records('t'))) {
        expect(offsets[0]).toBe(committedBySlow.get(partition) ?? 0);
        expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i));
      }
    }
    slow.open();
    await waitFor(() => expect(bus.retainedCount('t')).toBe(0));
    expect(bus.records('t')).toEqual([]);
  });

  it('a subscribed group that never committed holds everything, even once all its members left', async () => {
    setUp(2);
    let attempts = 0;
    const failing = await consume('failing', async () => {
      attempts++;
      throw new Error('database unavailable');
    });
    const fast = await drain('fast');
    await produce(0, 300);
    await waitFor(() => expect(fast).toHaveLength(300));
    await waitFor(() => expect(attempts).toBeGreaterThan(3));
    expect(bus.retainedCount('t')).toBe(300);
    await failing.stop();
    await produce(300, 100);
    await waitFor(() => expect(fast).toHaveLength(400));
    expect(bus.retainedCount('t')).toBe(400);
    // The group comes back and catches up: now nothing is held.
    const back = await drain('failing');
    await waitFor(() => expect(back).toHaveLength(400));
    await waitFor(() => expect(bus.retainedCount('t')).toBe(0));
  });

  it('a running reader holds what it has not read yet; a stopped one holds nothing', async () => {
    setUp(1);
    const fast = await drain('fast');
    await produce(0, 10);
    await waitFor(() => expect(fast).toHaveLength(10));
    expect(bus.retainedCount('t')).toBe(0);

    const readerGate = gate();
    const read: number[] = [];
    const reader = await bus.readFromStart({
      topics: ['t'],
      onRecords: async (records) => {
        read.push(...records.map((r) => Number(r.offset)));
        await readerGate.wait();
      },
    });
    await reader.caughtUp; // nothing retained to replay: it starts at offset 10
    await produce(10, 5);
    await waitFor(() => expect(read).toEqual([10, 11, 12, 13, 14])); // held in this call
    await produce(15, 20);
    await waitFor(() => expect(fast).toHaveLength(35));
    expect(bus.retainedCount('t')).toBe(20); // 15..34: the group is done, the reader has not read them
    readerGate.release();
    await waitFor(() => expect(read).toHaveLength(25)); // held again, in the call with 15..34
    expect(bus.retainedCount('t')).toBe(0);

    await produce(35, 15);
    await waitFor(() => expect(fast).toHaveLength(50));
    expect(bus.retainedCount('t')).toBe(15);
    const stopping = reader.stop();
    readerGate.release();
    await stopping;
    expect(read).toHaveLength(25);
    expect(bus.retainedCount('t')).toBe(0);
  });

  it('a group that starts after a trim begins at the first retained offset and gets each retained record once', async () => {
    setUp(3);
    const slow = gate();
    let slowBatches = 0;
    await consume(
      'slow',
      async () => {
        if (++slowBatches > 3) await slow.wait(); // one batch per partition, then it stalls
      },
      100,
    );
    await drain('fast');
    await produce(0, 3_000);
    await waitFor(() => expect(bus.retainedCount('t')).toBe(2_700));
    const retained = byPartition(bus.records('t'));
    for (const offsets of retained.values()) expect(offsets[0]).toBe(100);

    const late = await drain('late');
    await waitFor(() => expect(late).toHaveLength(2_700));
    expect(byPartition(late)).toEqual(retained);
    expect(new Set(late.map((r) => `${r.partition}:${r.offset}`)).size).toBe(2_700);
    expect(late.map((r) => JSON.parse(r.value!.toString()).n).sort((a, b) => a - b)).toEqual(
      bus
        .records('t')
        .map((r) => JSON.parse(r.value!.toString()).n)
        .sort((a, b) => a - b),
    );
  });

  it('a compacted topic keeps the latest record per key (tombstones too) at its offset for new readers', async () => {
    setUp(1, 'compact');
    const put = (key: string | null, value: string | null) =>
      bus.producer().send([{ topic: 't', key, value }]);
    const fast = await drain('fast');
    await put('a', '1'); // 0
    await put('b', '1'); // 1
    await put('c', '1'); // 2
    await put('a', '2'); // 3
    await put(null, 'x'); // 4: no key, no state to keep
    await put('b', null); // 5: b deleted
    await put('c', '2'); // 6
    await put('a', '3'); // 7
    await put('d', '1'); // 8
    await put('d', '2'); // 9
    await waitFor(() => expect(fast).toHaveLength(10));
    expect(bus.retainedCount('t')).toBe(4);

    const latest = [
      { offset: '5', key: 'b', value: null },
      { offset: '6', key: 'c', value: '2' },
      { offset: '7', key: 'a', value: '3' },
      { offset: '9', key: 'd', value: '2' },
    ];
    const seen: IncomingRecord[] = [];
    const reader: ReaderHandle = await bus.readFromStart({
      topics: ['t'],
      onRecords: (records) => void seen.push(...records),
    });
    cleanups.push(() => reader.stop());
    await reader.caughtUp;
    const shape = (records: readonly IncomingRecord[]) =>
      records.map((r) => ({ offset: r.offset, key: r.key, value: r.value?.toString() ?? null }));
    expect(shape(seen)).toEqual(latest);
    expect(shape(bus.records('t'))).toEqual(latest);

    const view = await startStateView({ bus, topic: 't', decode: (v) => v.toString() });
    cleanups.push(() => view.stop());
    await view.ready;
    expect(Object.fromEntries(['a', 'b', 'c', 'd'].map((k) => [k, view.get(k)]))).toEqual({
      a: '3',
      b: undefined,
      c: '2',
      d: '2',
    });

    // New records keep counting from where the log ended; a new group reads the gaps alike.
    await put('a', '4'); // 10
    await waitFor(() => expect(seen.map((r) => r.offset)).toEqual(['5', '6', '7', '9', '10']));
    await waitFor(() => expect(view.get('a')).toBe('4'));
    await waitFor(() => expect(fast).toHaveLength(11));
    // Every holder is past 10 now: a's older record goes, b's tombstone stays.
    const compacted = ['5', '6', '9', '10'];
    expect(bus.records('t').map((r) => r.offset)).toEqual(compacted);
    const late = await drain('late');
    await waitFor(() => expect(late).toHaveLength(4));
    expect(shape(late)).toEqual(shape(bus.records('t')));
    expect(late.map((r) => r.offset)).toEqual(compacted);
  });

  it('an uncommitted batch is redelivered to the next member after trims before and after it', async () => {
    setUp(1);
    let failFrom = 50;
    const first: number[] = [];
    const failing = await consume(
      'g',
      async (batch) => {
        const offsets = batch.records.map((r) => Number(r.offset));
        first.push(...offsets);
        if (offsets.at(-1)! >= failFrom) throw new Error('database unavailable');
      },
      50,
    );
    const fast = await drain('fast');
    await produce(0, 100);
    await waitFor(() => expect(first.filter((o) => o === 50).length).toBeGreaterThan(2));
    await produce(100, 100);
    await waitFor(() => expect(fast).toHaveLength(200));
    expect(bus.retainedCount('t')).toBe(150); // 0..49 trimmed, 50.. held by the failing batch
    await failing.stop();
    failFrom = Number.POSITIVE_INFINITY;

    const second: number[] = [];
    await consume('g', async (batch) => void second.push(...batch.records.map((r) => Number(r.offset))), 50);
    await waitFor(() => expect(second).toEqual(Array.from({ length: 150 }, (_, i) => 50 + i)));
    await waitFor(() => expect(bus.retainedCount('t')).toBe(0));
  });
});
