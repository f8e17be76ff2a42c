import {
  type Assignment,
  type BusProducer,
  type ConsumerHandle,
  type ConsumerOptions,
  type Headers,
  type IncomingRecord,
  type MessageBus,
  type OutgoingRecord,
  processBatch,
  type ReaderHandle,
  type ReaderOptions,
} from '@massivesms/messaging';

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

interface StoredRecord {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: string;
}

interface Group {
  readonly members: Member[];
  /** Next offset to read per `topic:partition`. */
  readonly committed: Map<string, number>;
  /** Partitions with a batch in flight: only one member works on a partition at a time. */
  readonly busy: Set<string>;
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
 */
export class MemoryBus implements MessageBus {
  readonly #topics = new Map<string, StoredRecord[][]>();
  readonly #groups = new Map<string, Group>();
  readonly #members = new Set<Member>();
  readonly #readers = new Set<ReaderHandle>();
  #roundRobin = 0;
  #changed = Promise.withResolvers<void>();

  /** Creates a topic (idempotent; the partition count of an existing topic is kept). */
  createTopic(name: string, partitions = 1): void {
    if (!this.#topics.has(name))
      this.#topics.set(
        name,
        Array.from({ length: partitions }, () => []),
      );
  }

  /** Records of a topic in partition order, for tests and the demo's summary. */
  records(topic: string): IncomingRecord[] {
    return this.#partitions(topic).flatMap((records, partition) =>
      records.map((r, offset) => this.#incoming(topic, partition, offset, r)),
    );
  }

  producer(): BusProducer {
    return { send: async (records) => this.#append(records) };
  }

  async consume<T>(options: ConsumerOptions<T>): Promise<ConsumerHandle> {
    for (const topic of options.topics) this.#partitions(topic);
    const group = this.#group(options.groupId);
    const member = new Member(this, group, options as ConsumerOptions<unknown>);
    group.members.push(member);
    this.#members.add(member);
    this.rebalance(group);
    member.start();
    return member;
  }

  async readFromStart(options: ReaderOptions): Promise<ReaderHandle> {
    const partitions = options.topics.flatMap((topic) =>
      this.#partitions(topic).map((records, partition) => ({
        topic,
        partition,
        end: records.length,
        position: 0,
      })),
    );
    const abort = new AbortController();
    const caughtUp = Promise.withResolvers<void>();
    const check = () => {
      if (partitions.every((p) => p.position >= p.end)) caughtUp.resolve();
    };
    check();
    const loop = (async () => {
      while (!abort.signal.aborted) {
        let worked = false;
        for (const p of partitions) {
          const stored = this.#partitions(p.topic)[p.partition] ?? [];
          if (p.position >= stored.length) continue;
          const records = stored
            .slice(p.position)
            .map((r, i) => this.#incoming(p.topic, p.partition, p.position + i, r));
          p.position = stored.length;
          await options.onRecords(records);
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
      this.#partitions(topic).map((_, partition) => ({ topic, partition })),
    );
    for (const m of group.members) m.assigned = [];
    all.forEach((a, i) => {
      const eligible = group.members.filter((m) => m.options.topics.includes(a.topic));
      const owner = eligible[i % eligible.length];
      owner?.assigned.push(a);
    });
    this.notify();
  }

  /** @internal Removes a stopped member. */
  leave(member: Member): void {
    const index = member.group.members.indexOf(member);
    if (index >= 0) member.group.members.splice(index, 1);
    this.#members.delete(member);
    this.rebalance(member.group);
  }

  /** @internal Reads up to `max` records from the group's committed offset. */
  fetch(group: Group, a: Assignment, max: number): IncomingRecord[] {
    const from = group.committed.get(slot(a.topic, a.partition)) ?? 0;
    const stored = this.#partitions(a.topic)[a.partition] ?? [];
    return stored.slice(from, from + max).map((r, i) => this.#incoming(a.topic, a.partition, from + i, r));
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

  #append(records: readonly OutgoingRecord[]): void {
    for (const r of records) this.#partitions(r.topic); // all-or-nothing, like one produce request
    const timestamp = String(Date.now());
    for (const r of records) {
      const partitions = this.#partitions(r.topic);
      const p =
        r.key === null ? this.#roundRobin++ % partitions.length : partitionFor(r.key, partitions.length);
      const value = r.value === null ? null : Buffer.from(r.value);
      partitions[p]!.push({ key: r.key, value, headers: { ...(r.headers ?? {}) }, timestamp });
    }
    this.notify();
  }

  #partitions(topic: string): StoredRecord[][] {
    const partitions = this.#topics.get(topic);
    if (!partitions) throw new UnknownTopicError(topic);
    return partitions;
  }

  #group(groupId: string): Group {
    let group = this.#groups.get(groupId);
    if (!group) {
      group = { members: [], committed: new Map(), busy: new Set() };
      this.#groups.set(groupId, group);
    }
    return group;
  }

  #incoming(topic: string, partition: number, offset: number, r: StoredRecord): IncomingRecord {
    return {
      topic,
      partition,
      offset: String(offset),
      key: r.key,
      value: r.value === null ? null : Buffer.from(r.value),
      headers: { ...r.headers },
      timestamp: r.timestamp,
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
            commit: async (next) => {
              this.group.committed.set(key, Number(next));
            },
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
