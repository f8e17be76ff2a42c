import { randomUUID } from 'node:crypto';
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
import {
  CompressionTypes,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type KafkaMessage,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { CoalescingSender } from './coalescing-sender.ts';

/** Log sink for the client's own messages (kafkajs logs carry no record contents). */
export type KafkaLogSink = (
  level: 'error' | 'warn' | 'info' | 'debug',
  message: string,
  fields: object,
) => void;

export interface KafkaBusOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Default gzip: the only codec kafkajs ships without native add-ons. */
  readonly compression?: 'gzip' | 'none';
  readonly log?: KafkaLogSink;
  /** Records fetched per partition per request, in bytes. */
  readonly maxBytesPerPartition?: number;
  /** Partitions of one consumer processed concurrently (order is kept within each partition). */
  readonly partitionsConsumedConcurrently?: number;
}

const levelNames = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
  [logLevel.NOTHING]: 'debug',
} as const;

function toIncoming(topic: string, partition: number, m: KafkaMessage): IncomingRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? String(value[value.length - 1]) : String(value);
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key === null ? null : m.key.toString('utf8'),
    value: m.value,
    headers,
    timestamp: m.timestamp,
  };
}

/** The messaging port over Apache Kafka (kafkajs). */
export class KafkaBus implements MessageBus {
  readonly kafka: Kafka;
  readonly #options: KafkaBusOptions;
  readonly #consumers = new Set<KafkaConsumerHandle>();
  readonly #readers = new Set<ReaderHandle>();
  #producer: Promise<Producer> | undefined;

  constructor(options: KafkaBusOptions) {
    this.#options = options;
    const sink = options.log;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      logLevel: logLevel.WARN,
      retry: { initialRetryTime: 100, retries: 8 },
      logCreator: () => (entry: LogEntry) => {
        const { message, ...fields } = entry.log;
        if (sink) sink(levelNames[entry.level], message, { ...fields, namespace: entry.namespace });
        else if (entry.level <= logLevel.ERROR)
          process.stderr.write(`kafkajs ${entry.namespace}: ${message}\n`);
      },
    });
  }

  producer(): BusProducer {
    return { send: (records) => this.#sender.send(records) };
  }

  /** Every producer handle of this bus shares one connection and one request in flight. */
  readonly #sender = new CoalescingSender(async (records) => {
    const producer = await this.#connectedProducer();
    await producer.sendBatch({
      acks: -1,
      compression: this.#options.compression === 'none' ? CompressionTypes.None : CompressionTypes.GZIP,
      topicMessages: groupByTopic(records),
    });
  });

  async consume<T>(options: ConsumerOptions<T>): Promise<ConsumerHandle> {
    const handle = new KafkaConsumerHandle(this, options as ConsumerOptions<unknown>, this.#options);
    this.#consumers.add(handle);
    await handle.start();
    return handle;
  }

  async readFromStart(options: ReaderOptions): Promise<ReaderHandle> {
    // A throwaway group: it gets every partition, starts at the beginning and never commits.
    const groupId = `${this.#options.clientId}.reader.${randomUUID()}`;
    const admin = this.kafka.admin();
    await admin.connect();
    const ends = new Map<string, bigint>();
    try {
      for (const topic of options.topics) {
        for (const p of await retryTransient(() => admin.fetchTopicOffsets(topic))) {
          if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
        }
      }
    } finally {
      await admin.disconnect();
    }
    const caughtUp = Promise.withResolvers<void>();
    const reached = (topic: string, partition: number, next: bigint) => {
      const key = `${topic}:${partition}`;
      const end = ends.get(key);
      if (end !== undefined && next >= end) ends.delete(key);
      if (ends.size === 0) caughtUp.resolve();
    };
    if (ends.size === 0) caughtUp.resolve();
    const consumer = this.kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.messages.length > 0) {
          await options.onRecords(batch.messages.map((m) => toIncoming(batch.topic, batch.partition, m)));
        }
        // The high watermark says where the log ends, whatever offsets compaction left out before it.
        const next =
          batch.isEmpty() || batch.offsetLag() === '0'
            ? BigInt(batch.highWatermark)
            : BigInt(batch.lastOffset()) + 1n;
        reached(batch.topic, batch.partition, next);
      },
    });
    const handle: ReaderHandle = {
      caughtUp: caughtUp.promise,
      stop: async () => {
        this.#readers.delete(handle);
        await consumer.disconnect();
        const cleanup = this.kafka.admin();
        await cleanup.connect();
        await cleanup.deleteGroups([groupId]).catch(() => {});
        await cleanup.disconnect();
      },
    };
    this.#readers.add(handle);
    return handle;
  }

  /** @internal */
  forget(handle: KafkaConsumerHandle): void {
    this.#consumers.delete(handle);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.stop()));
    await Promise.all([...this.#readers].map((r) => r.stop()));
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer) await (await producer).disconnect();
  }

  #connectedProducer(): Promise<Producer> {
    if (!this.#producer) {
      // Not kafkajs's idempotent mode: after a retriable error (e.g. NOT_LEADER right after a topic is
      // created or a leader moves) it desynchronises sequence numbers and the producer dies with
      // OUT_OF_ORDER_SEQUENCE_NUMBER (tulios/kafkajs#598). acks=all with one request in flight keeps
      // order per partition; a retry after a lost ack, or after one partition of a request failed
      // (kafkajs resends the whole request), may duplicate records, which every consumer absorbs
      // (router claims per message id, dispatcher claims before sending, views keep revisions).
      const producer = this.kafka.producer({
        idempotent: false,
        maxInFlightRequests: 1,
        retry: { initialRetryTime: 100, retries: 10 },
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.#producer = producer.connect().then(
        () => producer,
        (error: unknown) => {
          this.#producer = undefined;
          throw error;
        },
      );
    }
    return this.#producer;
  }
}

/**
 * Retries what a just-created topic answers while its leadership settles ("not the leader",
 * "unknown topic"): errors kafkajs marks retriable, for up to `timeoutMs`.
 */
async function retryTransient<T>(action: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable === true;
      if (!retriable || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function groupByTopic(records: readonly OutgoingRecord[]) {
  const byTopic = new Map<
    string,
    { key: string | null; value: Buffer | string | null; headers: Record<string, string> }[]
  >();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (!list) {
      list = [];
      byTopic.set(r.topic, list);
    }
    list.push({ key: r.key, value: r.value, headers: { ...(r.headers ?? {}) } });
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/** One group member backed by a kafkajs consumer. */
class KafkaConsumerHandle implements ConsumerHandle {
  readonly #bus: KafkaBus;
  readonly #options: ConsumerOptions<unknown>;
  readonly #busOptions: KafkaBusOptions;
  readonly #abort = new AbortController();
  readonly #consumer: Consumer;
  #assigned: Assignment[] = [];
  /** Batches being processed: stop() lets them commit before kafkajs stops (it ignores commits after). */
  readonly #inFlight = new Set<Promise<void>>();
  #stopped: Promise<void> | undefined;

  constructor(bus: KafkaBus, options: ConsumerOptions<unknown>, busOptions: KafkaBusOptions) {
    this.#bus = bus;
    this.#options = options;
    this.#busOptions = busOptions;
    this.#consumer = bus.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: busOptions.maxBytesPerPartition ?? 1_048_576,
      retry: { initialRetryTime: 100, retries: 8 },
    });
  }

  assignments(): readonly Assignment[] {
    return [...this.#assigned];
  }

  async start(): Promise<void> {
    const consumer = this.#consumer;
    const joined = Promise.withResolvers<void>();
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.#assigned = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition })),
      );
      joined.resolve();
    });
    consumer.on(consumer.events.CRASH, (event) => joined.reject(event.payload.error));
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.#options.topics], fromBeginning: true });
    const producer = this.#bus.producer();
    const max = this.#options.maxBatchSize ?? 500;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.#busOptions.partitionsConsumedConcurrently ?? 4,
      eachBatch: async (payload) => {
        if (this.#abort.signal.aborted) return; // stopping: leave the records for the next owner
        const work = this.#eachBatch(payload, producer, max);
        this.#inFlight.add(work);
        try {
          await work;
        } finally {
          this.#inFlight.delete(work);
        }
      },
    });
    await joined.promise;
  }

  async #eachBatch(
    { batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload,
    producer: BusProducer,
    max: number,
  ): Promise<void> {
    const { topic, partition } = batch;
    const records = batch.messages.map((m) => toIncoming(topic, partition, m));
    for (let i = 0; i < records.length; i += max) {
      const chunk = records.slice(i, i + max);
      const outcome = await processBatch(this.#options, producer, topic, partition, chunk, {
        signal: this.#abort.signal,
        commit: (offset) => this.#consumer.commitOffsets([{ topic, partition, offset }]),
        stillOwned: async () => {
          if (!isRunning() || isStale()) return false;
          await heartbeat();
          return true;
        },
      });
      if (outcome === 'abandoned') return;
      resolveOffset(chunk[chunk.length - 1]!.offset);
    }
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#abort.abort();
      await Promise.allSettled([...this.#inFlight]);
      await this.#consumer.disconnect(); // waits for the batch in flight, then leaves the group
      this.#assigned = [];
      this.#bus.forget(this);
    })();
    return this.#stopped;
  }
}
