// RED metrics of every consumer and of the producer, and consumer lag, for any MessageBus adapter:
// the wrapper sees each `consume` call (group, topics, handler) and each send, so no service has to
// count them itself. Label values are group names, topics, partitions and error codes: all bounded.
import {
  type BatchResult,
  type BusProducer,
  type ConsumerHandle,
  type ConsumerOptions,
  type MessageBus,
  type ReaderHandle,
  type ReaderOptions,
  UNCLASSIFIED_FAILURE_CODE,
} from '@massivesms/messaging';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** A group's lag on one partition: high watermark minus committed offset (records). */
export interface PartitionLag {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
}

/** Reads the lag of consumer groups (libs/kafka `kafkaLagSource` asks the admin API). */
export interface LagSource {
  lag(
    groups: readonly { readonly groupId: string; readonly topics: readonly string[] }[],
  ): Promise<PartitionLag[]>;
  close(): Promise<void>;
}

export interface BusMetricsOptions {
  readonly registry: Registry;
  /** Where consumer lag comes from; without it no lag is exported. */
  readonly lag?: LagSource;
  /** Lag is read at most this often, however often Prometheus scrapes (default 10 s). */
  readonly lagMinIntervalMs?: number;
  /** A lag read that takes longer is abandoned and the previous values are kept (default 2 s). */
  readonly lagTimeoutMs?: number;
}

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Wraps a bus so that its consumers, producer and lag are measured in `options.registry`. */
export function instrumentBus(bus: MessageBus, options: BusMetricsOptions): MessageBus {
  const { registry } = options;
  const batches = new Counter({
    name: 'massivesms_consumer_batches_total',
    help: 'Batches handed to a consumer handler, by group, topic and outcome (ok; error: the handler threw and the batch is retried).',
    labelNames: ['group', 'topic', 'outcome'] as const,
    registers: [registry],
  });
  const records = new Counter({
    name: 'massivesms_consumer_records_total',
    help: 'Records handed to a consumer handler, by group, topic and outcome (processed; failed: reported failed by the handler, then retried or dead-lettered).',
    labelNames: ['group', 'topic', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'massivesms_consumer_batch_duration_seconds',
    help: 'Time a consumer handler took for one batch, by group and topic.',
    labelNames: ['group', 'topic'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'massivesms_consumer_dead_letters_total',
    help: 'Records sent to the dead-letter topic by a consumer (undecodable, or failed by the handler), by group, topic and error code.',
    labelNames: ['group', 'topic', 'code'] as const,
    registers: [registry],
  });
  const produced = new Counter({
    name: 'massivesms_producer_records_total',
    help: 'Records sent to Kafka, by topic and outcome (ok, error).',
    labelNames: ['topic', 'outcome'] as const,
    registers: [registry],
  });
  const sendSeconds = new Histogram({
    name: 'massivesms_producer_send_duration_seconds',
    help: 'Time for one send to be acknowledged by all in-sync replicas (or to fail), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const groups = new Map<string, readonly string[]>();
  const lagSource = options.lag;
  if (lagSource) {
    const minInterval = options.lagMinIntervalMs ?? 10_000;
    const timeoutMs = options.lagTimeoutMs ?? 2_000;
    let readAt = 0;
    let last: PartitionLag[] = [];
    const errors = new Counter({
      name: 'massivesms_consumer_lag_read_errors_total',
      help: 'Consumer lag reads from the admin API that failed or timed out (the previous values are kept).',
      registers: [registry],
    });
    errors.inc(0);
    new Gauge({
      name: 'massivesms_consumer_lag_records',
      help: 'Records of a partition not yet committed by the group (high watermark minus committed offset), read at most every 10 s.',
      labelNames: ['group', 'topic', 'partition'] as const,
      registers: [registry],
      async collect() {
        if (Date.now() - readAt >= minInterval && groups.size > 0) {
          readAt = Date.now();
          try {
            const wanted = [...groups].map(([groupId, topics]) => ({ groupId, topics }));
            last = await withTimeout(lagSource.lag(wanted), timeoutMs);
            this.reset();
          } catch {
            errors.inc();
          }
        }
        for (const row of last)
          this.set({ group: row.groupId, topic: row.topic, partition: String(row.partition) }, row.lag);
      },
    });
  }

  const producer = (inner: BusProducer): BusProducer => ({
    async send(batch) {
      const end = sendSeconds.startTimer();
      try {
        await inner.send(batch);
      } catch (error) {
        end({ outcome: 'error' });
        countTopics(batch, (topic, n) => produced.inc({ topic, outcome: 'error' }, n));
        throw error;
      }
      end({ outcome: 'ok' });
      countTopics(batch, (topic, n) => produced.inc({ topic, outcome: 'ok' }, n));
    },
  });

  return {
    producer: () => producer(bus.producer()),
    consume<T>(consumer: ConsumerOptions<T>): Promise<ConsumerHandle> {
      const group = consumer.groupId;
      groups.set(group, consumer.topics);
      for (const topic of consumer.topics) {
        for (const outcome of ['ok', 'error']) batches.inc({ group, topic, outcome }, 0);
        for (const outcome of ['processed', 'failed']) records.inc({ group, topic, outcome }, 0);
        duration.zero({ group, topic });
      }
      return bus.consume<T>({
        ...consumer,
        // An undecodable record goes to the dead-letter topic without reaching the handler.
        decode: (record) => {
          try {
            return consumer.decode(record);
          } catch (error) {
            deadLetters.inc({ group, topic: record.topic, code: codeOf(error) });
            throw error;
          }
        },
        handleBatch: async (batch) => {
          const labels = { group, topic: batch.topic };
          const end = duration.startTimer(labels);
          let result: undefined | BatchResult;
          try {
            result = (await consumer.handleBatch(batch)) ?? undefined;
          } catch (error) {
            end();
            batches.inc({ ...labels, outcome: 'error' });
            throw error;
          }
          end();
          const failed = result?.failed.length ?? 0;
          batches.inc({ ...labels, outcome: 'ok' });
          records.inc({ ...labels, outcome: 'processed' }, batch.records.length - failed);
          if (failed > 0) records.inc({ ...labels, outcome: 'failed' }, failed);
          return result as BatchResult;
        },
        onRecordFailed: (error, where) => {
          if (where.outcome === 'dead-letter')
            deadLetters.inc({ group, topic: where.topic, code: where.code });
          consumer.onRecordFailed?.(error, where);
        },
      });
    },
    readFromStart: (reader: ReaderOptions): Promise<ReaderHandle> => bus.readFromStart(reader),
    async close() {
      await bus.close();
      await lagSource?.close();
    },
  };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : UNCLASSIFIED_FAILURE_CODE;
}

function countTopics(
  batch: readonly { readonly topic: string }[],
  add: (topic: string, n: number) => void,
): void {
  const counts = new Map<string, number>();
  for (const r of batch) counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1);
  for (const [topic, n] of counts) add(topic, n);
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
