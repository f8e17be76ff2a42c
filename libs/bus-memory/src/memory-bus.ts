import {
  type Assignment,
  type BusProducer,
  type ConsumerHandle,
  type ConsumerOptions,
  type IncomingRecord,
  type MessageBus,
  type OutgoingRecord,
  processBatch,
  type ReaderHandle,
  type ReaderOptions,
} from '@massivesms/messaging';
import { type LoggedRecord, PartitionLog } from './partition-log.ts';

/** Thrown when producing to or consuming from a topic that was never created (as with auto-create off). */
export class UnknownTopicError extends Error {
  override readonly name = 'UnknownTopicError';
  readonly code = 'BUS_UNKNOWN_TOPIC';
  readonly topic: string;
  constructor(topic: string) {
    super(`topic ${topic} does not exist`);
    this.topic = topic;
  }
}

/** How a topic cleans up what nobody needs any more (Kafka's `cleanup.policy`). */
export interface TopicOptions {
  /** `compact` keeps the latest record per key of what is trimmed; `delete` (default) drops it all. */
  readonly cleanupPolicy?: 'delete' | 'compact';
}

interface Topic {
  readonly partitions: readonly PartitionLog[];
  /** Groups that ever subscribed: each holds what it has not committed, even with no member left (it may come back). */
  readonly groups: Set<Group>;
  /** Running readers: each holds what it has not read yet. */
  readonly readers: Set<Reader>;
  /** Until a group or reader subscribes, nobody has said they will read the topic: it keeps everything. */
  subscribed: boolean;
}

interface Group {
  readonly members: Member[];
  /** Next offset to read per `topic:partition`. */
  readonly committed: Map<string, number>;
  /** Partitions with a batch in flight: only one member works on a partition at a time. */
  readonly busy: Set<string>;
}

interface Reader {
  /** Next offset to read per `topic:partition`. */
  readonly next: Map<string, number>;
}

const slot = (topic: string, partition: number) => `${topic}:${partition}`;

/** FNV-1a: a stable key → partition mapping, so one key always lands on one partition. */
function partitionFor(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/**
 * In-process implementation of the messaging port for the embedded mode and fast tests: partitions
 * by key, consumer groups with partition assignment, committed offsets, redelivery of uncommitted
 * records. It passes the same contract suite as the Kafka adapter.
 *
 * Retention: Kafka forgets records after a time; here a partition forgets its prefix as soon as
 * every group subscribed to the topic has committed past it and every running reader of the topic
 * has read past it, so a long run holds only what someone may still read. A group (or reader) that
 * starts later begins at the first retained offset, as Kafka's `earliest` does after retention.
 */
export class MemoryBus implements MessageBus {
  readonly #topics = new Map<string, Topic>();
  readonly #groups = new Map<string, Group>();
  readonly #members = new Set<Member>();
  readonly #readers = new Set<ReaderHandle>();
  #roundRobin = 0;
  #changed = Promise.withResolvers<void>();

  /** Creates a topic (idempotent; the partition count and policy of an existing topic are kept). */
  createTopic(name: string, partitions = 1, options: TopicOptions = {}): void {
    if (this.#topics.has(name)) return;
    const compacted = options.cleanupPolicy === 'compact';
    this.#topics.set(name, {
      partitions: Array.from({ length: partitions }, () => new PartitionLog(compacted)),
      groups: new Set(),
      readers: new Set(),
      subscribed: false,
    });
  }

  /** Retained records of a topic in partition order, with their offsets, for tests and the demo. */
  records(topic: string): IncomingRecord[] {
    return this.#topic(topic).partitions.flatMap((log, partition) =>
      log.read(0).map((r) => this.#incoming(topic, partition, r)),
    );
  }

  /** How many records a topic retains, over all its partitions. */
  retainedCount(topic: string): number {
    return this.#topic(topic).partitions.reduce((n, log) => n + log.retained, 0);
  }

  producer(): BusProducer {
    return { send: async (records) => this.#append(records) };
  }

  async consume<T>(options: ConsumerOptions<T>): Promise<ConsumerHandle> {
    const topics = options.topics.map((name) => this.#topic(name));
    const group = this.#group(options.groupId);
    for (const topic of topics) {
      topic.groups.add(group);
      topic.subscribed = true;
    }
    const member = new Member(this, group, options as ConsumerOptions<unknown>);
    group.members.push(member);
    this.#members.add(member);
    this.rebalance(group);
    member.start();
    return member;
  }

  async readFromStart(options: ReaderOptions): Promise<ReaderHandle> {
    const reader: Reader = { next: new Map() };
    const partitions = options.topics.flatMap((name) => {
      const topic = this.#topic(name);
      topic.readers.add(reader);
      topic.subscribed = true;
      return topic.partitions.map((log, partition) => {
        reader.next.set(slot(name, partition), 0); // from the first retained offset, whatever it is
        return { name, partition, log, key: slot(name, partition), end: log.end };
      });
    });
    const abort = new AbortController();
    const caughtUp = Promise.withResolvers<void>();
    const check = () => {
      if (partitions.every((p) => reader.next.get(p.key)! >= p.end)) caughtUp.resolve();
    };
    check();
    const loop = (async () => {
      while (!abort.signal.aborted) {
        let worked = false;
        for (const p of partitions) {
          const from = reader.next.get(p.key)!;
          if (from >= p.log.end) continue;
          const records = p.log.read(from).map((r) => this.#incoming(p.name, p.partition, r));
          reader.next.set(p.key, p.log.end);
          this.#retain(p.name, p.partition); // the records handed over are copies
          if (records.length > 0) await options.onRecords(records);
          worked = true;
        }
        check();
        if (!worked) await this.changed(abort.signal);
      }
    })();
    const handle = {
      caughtUp: caughtUp.promise,
      consuming: () => !abort.signal.aborted,
      stop: async () => {
        abort.abort();
        await loop;
        // A stopped reader holds nothing any more.
        for (const name of options.topics) {
          if (!this.#topic(name).readers.delete(reader)) continue;
          for (const p of partitions) if (p.name === name) this.#retain(name, p.partition);
        }
      },
    };
    this.#readers.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#members].map((m) => m.stop()));
    await Promise.all([...this.#readers].map((r) => r.stop()));
  }

  /** @internal Spreads the group's partitions over its members, round-robin in join order. */
  rebalance(group: Group): void {
    const topics = [...new Set(group.members.flatMap((m) => m.options.topics))].sort();
    const all = topics.flatMap((topic) =>
      this.#topic(topic).partitions.map((_, partition) => ({ topic, partition })),
    );
    for (const m of group.members) m.assigned = [];
    all.forEach((a, i) => {
      const eligible = group.members.filter((m) => m.options.topics.includes(a.topic));
      const owner = eligible[i % eligible.length];
      owner?.assigned.push(a);
    });
    this.notify();
  }

  /** @internal Removes a stopped member (its group keeps its offsets, and its hold on the topics). */
  leave(member: Member): void {
    const index = member.group.members.indexOf(member);
    if (index >= 0) member.group.members.splice(index, 1);
    this.#members.delete(member);
    this.rebalance(member.group);
  }

  /**
   * @internal Reads up to `max` records from the group's committed offset; with none (or one below
   * the first retained offset), from the first retained offset, like Kafka's `earliest`.
   */
  fetch(group: Group, a: Assignment, max: number): IncomingRecord[] {
    const from = group.committed.get(slot(a.topic, a.partition)) ?? 0;
    const log = this.#topic(a.topic).partitions[a.partition];
    return (log?.read(from, max) ?? []).map((r) => this.#incoming(a.topic, a.partition, r));
  }

  /** @internal Records a group's commit, then drops what nobody needs any more on that partition. */
  commit(group: Group, a: Assignment, nextOffset: number): void {
    group.committed.set(slot(a.topic, a.partition), nextOffset);
    this.#retain(a.topic, a.partition);
  }

  /** @internal Wakes every member waiting for new records or a new assignment. */
  notify(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }

  /** @internal Resolves on the next produce, commit or rebalance (or when `signal` aborts). */
  async changed(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      void this.#changed.promise.then(done);
    });
  }

  /**
   * Trims a partition up to the lowest position anyone holds on it: the committed offset of every
   * group subscribed to the topic (none committed: it holds everything) and the next offset of every
   * running reader. Called when one of those moves, for that partition only.
   */
  #retain(name: string, partition: number): void {
    const topic = this.#topic(name);
    const log = topic.partitions[partition];
    if (!log || !topic.subscribed) return;
    const key = slot(name, partition);
    let keepFrom = log.end;
    for (const group of topic.groups) keepFrom = Math.min(keepFrom, group.committed.get(key) ?? 0);
    for (const reader of topic.readers) keepFrom = Math.min(keepFrom, reader.next.get(key) ?? 0);
    log.trimTo(keepFrom);
  }

  #append(records: readonly OutgoingRecord[]): void {
    for (const r of records) this.#topic(r.topic); // all-or-nothing, like one produce request
    const timestamp = String(Date.now());
    for (const r of records) {
      const { partitions } = this.#topic(r.topic);
      const p =
        r.key === null ? this.#roundRobin++ % partitions.length : partitionFor(r.key, partitions.length);
      const value = r.value === null ? null : Buffer.from(r.value);
      partitions[p]!.append({ key: r.key, value, headers: { ...(r.headers ?? {}) }, timestamp });
    }
    this.notify();
  }

  #topic(name: string): Topic {
    const topic = this.#topics.get(name);
    if (!topic) throw new UnknownTopicError(name);
    return topic;
  }

  #group(groupId: string): Group {
    let group = this.#groups.get(groupId);
    if (!group) {
      group = { members: [], committed: new Map(), busy: new Set() };
      this.#groups.set(groupId, group);
    }
    return group;
  }

  #incoming(topic: string, partition: number, { offset, record }: LoggedRecord): IncomingRecord {
    return {
      topic,
      partition,
      offset: String(offset),
      key: record.key,
      value: record.value === null ? null : Buffer.from(record.value),
      headers: { ...record.headers },
      timestamp: record.timestamp,
    };
  }
}

/** One member of a consumer group. */
class Member implements ConsumerHandle {
  assigned: Assignment[] = [];
  readonly #bus: MemoryBus;
  readonly group: Group;
  readonly options: ConsumerOptions<unknown>;
  readonly #abort = new AbortController();
  #loop: Promise<void> = Promise.resolve();

  constructor(bus: MemoryBus, group: Group, options: ConsumerOptions<unknown>) {
    this.#bus = bus;
    this.group = group;
    this.options = options;
  }

  assignments(): readonly Assignment[] {
    return [...this.assigned];
  }

  /** In process there is no broker to lose: a member consumes from start to stop. */
  consuming(): boolean {
    return !this.#abort.signal.aborted;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    if (!this.#abort.signal.aborted) {
      this.#abort.abort();
      await this.#loop;
      this.#bus.leave(this);
      this.assigned = [];
    }
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const max = this.options.maxBatchSize ?? 500;
    const producer = this.#bus.producer();
    while (!signal.aborted) {
      let worked = false;
      for (const a of [...this.assigned]) {
        const key = slot(a.topic, a.partition);
        if (signal.aborted || this.group.busy.has(key)) continue;
        const records = this.#bus.fetch(this.group, a, max);
        if (records.length === 0) continue;
        this.group.busy.add(key);
        try {
          await processBatch(this.options, producer, a.topic, a.partition, records, {
            signal,
            commit: async (next) => this.#bus.commit(this.group, a, Number(next)),
            stillOwned: async () =>
              this.assigned.some((x) => x.topic === a.topic && x.partition === a.partition),
          });
        } finally {
          this.group.busy.delete(key);
          this.#bus.notify();
        }
        worked = true;
      }
      if (!worked) await this.#bus.changed(signal);
    }
  }
}
