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
import { endSpans, startProcessSpan, startSendSpans, tracingEnabled } from '@massivesms/telemetry';
import {
  CompressionTypes,
  type Consumer,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { BrokerContact, type KafkaConnection, type KafkaLogSink, kafkaClient } from './client.ts';
import { CoalescingSender } from './coalescing-sender.ts';
import { SupervisedConsumer, settlesWithin } from './supervised-consumer.ts';

export type { KafkaLogSink } from './client.ts';

export interface KafkaBusOptions extends KafkaConnection {
  readonly clientId: string;
  /**
   * Default none. gzip (the only other codec kafkajs ships without native add-ons) ran per partition
   * batch and measured +5-35 us of producer and +3-14 us of consumer CPU per ~400-byte record, a hop;
   * for records this small on a local network that costs more than the bytes it saves.
   */
  readonly compression?: 'gzip' | 'none';
  readonly log?: KafkaLogSink;
  /** Records fetched per partition per request, in bytes. */
  readonly maxBytesPerPartition?: number;
  /** Partitions of one consumer processed concurrently (order is kept within each partition). */
  readonly partitionsConsumedConcurrently?: number;
  /** Wait before a failed consumer or reader starts again, doubled per failure (default 250 ms to 5 s). */
  readonly restartBackoffMs?: { readonly initial: number; readonly max: number };
  /**
   * Group session timeout (default 30 s). A member that vanished without leaving (its process died,
   * or the broker went down under it) holds the next rebalance back for this long.
   */
  readonly sessionTimeoutMs?: number;
  /**
   * Longest a consumer's or reader's `stop()`, and `close()` as a whole, waits for the clients to
   * finish their batch, commit and leave (default 5 s); past it they are abandoned, and what they did
   * not commit is redelivered.
   */
  readonly stopTimeoutMs?: number;
}

/**
 * How long a fetch waits on the broker when there is nothing to read. The broker answers as soon as a
 * record arrives, so this adds no latency under load; it sets the idle fetch rate (250 ms fetches and
 * 100 ms reader fetches kept an idle service at ~1.3 % of a core, 1 s at ~0.3 %). The price: a
 * stopping consumer waits for its fetch in flight, on average half of this.
 */
const MAX_WAIT_MS = 1_000;

/** A member not handling a batch fetches at least every `MAX_WAIT_MS` while all is well. */
const STALL_MS = 10_000;

/** Thrown by a send on a bus that was closed. */
export class BusClosedError extends Error {
  override readonly name = 'BusClosedError';
  readonly code = 'BUS_CLOSED';
  constructor() {
    super('the Kafka bus is closed');
  }
}

/**
 * The record as handlers see it. With `traced` (tracing on), a `process <topic>` span is started for
 * it, child of the trace context its headers carry, and its `traceparent` header then names that span,
 * so what the handler produces by copying the header continues the trace under its processing.
 */
function toIncoming(
  topic: string,
  partition: number,
  m: KafkaMessage,
  traced?: { readonly group: string; readonly spans: ReturnType<typeof startProcessSpan>[] },
): IncomingRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? String(value[value.length - 1]) : String(value);
  }
  if (traced)
    traced.spans.push(startProcessSpan({ topic, partition, offset: m.offset }, traced.group, headers));
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
  /** The producer's and admin's client. */
  readonly kafka: Kafka;
  readonly #producerContact = new BrokerContact();
  readonly #options: KafkaBusOptions;
  readonly #consumers = new Set<KafkaConsumerHandle>();
  readonly #readers = new Set<KafkaReaderHandle>();
  #producer: Promise<Producer> | undefined;
  #closed = false;

  constructor(options: KafkaBusOptions) {
    this.#options = options;
    this.kafka = kafkaClient(options, { initialRetryTime: 100, retries: 8 }, this.#producerContact);
  }

  /** @internal */
  get stopTimeoutMs(): number {
    return this.#options.stopTimeoutMs ?? 5_000;
  }

  /** @internal A fresh throwaway group for a reader. */
  readerGroupId(): string {
    return `${this.#options.clientId}.reader.${randomUUID()}`;
  }

  /** @internal What every consumer and reader of this bus shares. */
  supervision(name: string) {
    return {
      // Each consumer has a client of its own, so that its sockets report on it alone. Consumers wait
      // at most 2 s between retries and give up after ~9 s, then their supervisor restarts them: one
      // asleep in a 13 s kafkajs backoff would notice a returned broker late.
      client: (contact: BrokerContact) =>
        kafkaClient(this.#options, { initialRetryTime: 100, maxRetryTime: 2_000, retries: 8 }, contact),
      name,
      restartBackoffMs: this.#options.restartBackoffMs ?? { initial: 250, max: 5_000 },
      stallMs: STALL_MS,
      log: this.#options.log,
      brokers: this.#options.brokers,
    };
  }

  producer(): BusProducer {
    return { send: (records) => (tracingEnabled() ? this.#tracedSend(records) : this.#sender.send(records)) };
  }

  /** One `send <topic>` span per record, the record's headers carrying it (W3C trace context). */
  async #tracedSend(records: readonly OutgoingRecord[]): Promise<void> {
    const traced = startSendSpans(records);
    try {
      await this.#sender.send(traced.records);
    } catch (error) {
      traced.end(error);
      throw error;
    }
    traced.end();
  }

  /** Every producer handle of this bus shares one connection and one request in flight. */
  readonly #sender = new CoalescingSender(async (records) => {
    const producer = await this.#connectedProducer();
    await producer.sendBatch({
      acks: -1,
      compression: this.#options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      topicMessages: groupByTopic(records),
    });
    this.#producerContact.heard();
  });

  async consume<T>(options: ConsumerOptions<T>): Promise<ConsumerHandle> {
    if (this.#closed) throw new BusClosedError();
    const handle = new KafkaConsumerHandle(this, options as ConsumerOptions<unknown>, this.#options);
    this.#consumers.add(handle);
    await handle.start();
    return handle;
  }

  async readFromStart(options: ReaderOptions): Promise<ReaderHandle> {
    if (this.#closed) throw new BusClosedError();
    const handle = new KafkaReaderHandle(this, options);
    this.#readers.add(handle);
    await handle.start();
    return handle;
  }

  /** @internal */
  forget(handle: KafkaConsumerHandle | KafkaReaderHandle): void {
    if (handle instanceof KafkaConsumerHandle) this.#consumers.delete(handle);
    else this.#readers.delete(handle);
  }

  /**
   * Stops every consumer and reader (batches in flight finish and commit), then disconnects the
   * producer, within `stopTimeoutMs` whatever state the clients are in (broker down, a consumer
   * restarting, a send retrying): what has not finished by then is abandoned.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const deadline = performance.now() + this.stopTimeoutMs;
    await Promise.all([
      ...[...this.#consumers].map((c) => c.stopWithin(this.stopTimeoutMs)),
      ...[...this.#readers].map((r) => r.stopWithin(this.stopTimeoutMs)),
    ]);
    const producer = this.#producer;
    this.#producer = undefined;
    if (!producer) return;
    const disconnected = producer.then((p) => p.disconnect());
    disconnected.catch(() => {}); // a producer that never connected has nothing to disconnect
    // One whose connections failed since the broker last answered it is not waited for. (An idle
    // producer hears nothing, so only failures count here.)
    if (!this.#producerContact.inTouch(Number.POSITIVE_INFINITY)) return;
    if (!(await settlesWithin(disconnected, deadline - performance.now()))) {
      this.#options.log?.('warn', 'Kafka producer did not disconnect in time; abandoned', {
        timeoutMs: this.stopTimeoutMs,
      });
    }
  }

  #connectedProducer(): Promise<Producer> {
    if (this.#closed) return Promise.reject(new BusClosedError());
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
        () => {
          this.#producerContact.heard();
          return producer;
        },
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

/** One group member backed by a kafkajs consumer, restarted whenever it fails. */
class KafkaConsumerHandle implements ConsumerHandle {
  readonly #bus: KafkaBus;
  readonly #options: ConsumerOptions<unknown>;
  readonly #supervisor: SupervisedConsumer;
  readonly #heartbeatIntervalMs: number;
  #stopped: Promise<void> | undefined;

  constructor(bus: KafkaBus, options: ConsumerOptions<unknown>, busOptions: KafkaBusOptions) {
    this.#bus = bus;
    this.#options = options;
    const sessionTimeout = busOptions.sessionTimeoutMs ?? 30_000;
    this.#heartbeatIntervalMs = Math.min(3_000, Math.floor(sessionTimeout / 3));
    const producer = bus.producer();
    const max = options.maxBatchSize ?? 500;
    this.#supervisor = new SupervisedConsumer({
      ...bus.supervision(options.groupId),
      config: () => ({
        groupId: options.groupId,
        allowAutoTopicCreation: false,
        sessionTimeout,
        heartbeatInterval: this.#heartbeatIntervalMs,
        maxWaitTimeInMs: MAX_WAIT_MS,
        maxBytesPerPartition: busOptions.maxBytesPerPartition ?? 1_048_576,
      }),
      start: async (consumer, signal) => {
        await consumer.connect();
        if (signal.aborted) return;
        await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: busOptions.partitionsConsumedConcurrently ?? 4,
          eachBatch: async (payload) => {
            if (signal.aborted) return; // stopping: leave the records for the next owner
            await this.#supervisor.track(this.#eachBatch(consumer, payload, producer, max));
          },
        });
      },
    });
  }

  start(): Promise<void> {
    return this.#supervisor.start().catch((error: unknown) => {
      this.#bus.forget(this);
      throw error;
    });
  }

  assignments(): readonly Assignment[] {
    return this.#supervisor.assignments();
  }

  consuming(): boolean {
    return this.#supervisor.consuming();
  }

  async #eachBatch(
    consumer: Consumer,
    { batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload,
    producer: BusProducer,
    max: number,
  ): Promise<void> {
    const { topic, partition } = batch;
    const traced = tracingEnabled() ? { group: this.#options.groupId, spans: [] } : undefined;
    const records = batch.messages.map((m) => toIncoming(topic, partition, m, traced));
    let failure: unknown;
    // kafkajs heartbeats only between batches: a long one would lose its partitions after the session
    // timeout, and look stalled. A failed beat changes nothing here; the next fetch or commit tells.
    const beat = setInterval(() => heartbeat().catch(() => {}), this.#heartbeatIntervalMs);
    beat.unref(); // a batch abandoned at shutdown must not keep the process alive
    try {
      for (let i = 0; i < records.length; i += max) {
        const chunk = records.slice(i, i + max);
        const outcome = await processBatch(this.#options, producer, topic, partition, chunk, {
          signal: this.#supervisor.signal,
          // The consumer that fetched the batch: after a crash its commits fail, so nothing is lost.
          commit: (offset) => consumer.commitOffsets([{ topic, partition, offset }]),
          stillOwned: async () => {
            if (!isRunning() || isStale()) return false;
            await heartbeat();
            return true;
          },
        });
        if (outcome === 'abandoned') return;
        resolveOffset(chunk[chunk.length - 1]!.offset);
      }
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      clearInterval(beat);
      if (traced) endSpans(traced.spans, failure);
    }
  }

  stop(): Promise<void> {
    return this.stopWithin(this.#bus.stopTimeoutMs);
  }

  /** @internal Batches in flight finish and commit, then the member leaves, all within `timeoutMs`. */
  stopWithin(timeoutMs: number): Promise<void> {
    this.#stopped ??= (async () => {
      await this.#supervisor.stop(timeoutMs, () => this.#supervisor.drained());
      this.#bus.forget(this);
    })();
    return this.#stopped;
  }
}

/**
 * Replays topics from their start and follows them, in a throwaway group that gets every partition
 * and never commits. A restarted reader takes a fresh group (the old one may still hold its dead
 * member) and seeks to where it had got, so nothing is replayed twice.
 */
class KafkaReaderHandle implements ReaderHandle {
  readonly #bus: KafkaBus;
  readonly #options: ReaderOptions;
  readonly #supervisor: SupervisedConsumer;
  readonly #caughtUp = Promise.withResolvers<void>();
  readonly caughtUp = this.#caughtUp.promise;
  /** Groups used so far, deleted on stop. */
  readonly #groupIds: string[] = [];
  /** Next offset to hand over per partition, once something was handed over. */
  readonly #positions = new Map<string, { topic: string; partition: number; next: bigint }>();
  /** Where each non-empty partition ended when the reader started; emptied as they are reached. */
  #ends: Map<string, bigint> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(bus: KafkaBus, options: ReaderOptions) {
    this.#bus = bus;
    this.#options = options;
    this.#supervisor = new SupervisedConsumer({
      ...bus.supervision(`reader of ${options.topics.join(',')}`),
      config: () => {
        const groupId = bus.readerGroupId();
        this.#groupIds.push(groupId);
        return { groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: MAX_WAIT_MS };
      },
      start: (consumer, signal) => this.#run(consumer, signal),
    });
  }

  start(): Promise<void> {
    return this.#supervisor.start().catch((error: unknown) => {
      this.#bus.forget(this);
      throw error;
    });
  }

  consuming(): boolean {
    return this.#supervisor.consuming();
  }

  async #run(consumer: Consumer, signal: AbortSignal): Promise<void> {
    this.#ends ??= await this.#fetchEnds();
    if (this.#ends.size === 0) this.#caughtUp.resolve();
    await consumer.connect();
    if (signal.aborted) return;
    await consumer.subscribe({ topics: [...this.#options.topics], fromBeginning: true });
    // Seeks apply to the first fetch after the join (kafkajs accepts them once the consumer runs).
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const { topic, partition, next } of this.#positions.values()) {
        consumer.seek({ topic, partition, offset: next.toString() });
      }
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (signal.aborted) return;
        await this.#supervisor.track(this.#eachBatch(batch));
      },
    });
  }

  async #eachBatch(batch: EachBatchPayload['batch']): Promise<void> {
    const { topic, partition } = batch;
    const key = `${topic}:${partition}`;
    const last = batch.messages.at(-1);
    if (last) {
      await this.#options.onRecords(batch.messages.map((m) => toIncoming(topic, partition, m)));
      this.#positions.set(key, { topic, partition, next: BigInt(last.offset) + 1n });
    }
    // The high watermark says where the log ends, whatever offsets compaction left out before it.
    const next =
      batch.isEmpty() || batch.offsetLag() === '0'
        ? BigInt(batch.highWatermark)
        : BigInt(batch.lastOffset()) + 1n;
    const ends = this.#ends!;
    const end = ends.get(key);
    if (end !== undefined && next >= end) ends.delete(key);
    if (ends.size === 0) this.#caughtUp.resolve();
  }

  async #fetchEnds(): Promise<Map<string, bigint>> {
    const ends = new Map<string, bigint>();
    const admin = this.#supervisor.kafka.admin();
    await admin.connect();
    try {
      for (const topic of this.#options.topics) {
        for (const p of await retryTransient(() => admin.fetchTopicOffsets(topic))) {
          if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
        }
      }
    } finally {
      await admin.disconnect();
    }
    return ends;
  }

  stop(): Promise<void> {
    return this.stopWithin(this.#bus.stopTimeoutMs);
  }

  /** @internal Leaves, then deletes the throwaway groups, all within `timeoutMs`. */
  stopWithin(timeoutMs: number): Promise<void> {
    this.#stopped ??= (async () => {
      const deadline = performance.now() + timeoutMs;
      if (await this.#supervisor.stop(timeoutMs)) {
        const cleanup = this.#supervisor.kafka.admin();
        const deleted = (async () => {
          await cleanup.connect();
          try {
            await cleanup.deleteGroups([...this.#groupIds]);
          } finally {
            await cleanup.disconnect();
          }
        })();
        // Best effort: a group left behind has no member and no offsets, and the broker drops it.
        await settlesWithin(deleted, deadline - performance.now());
      }
      this.#bus.forget(this);
    })();
    return this.#stopped;
  }
}
