// The messaging port every service talks to. Two adapters implement it: libs/kafka (production,
// integration tests) and libs/bus-memory (embedded mode, fast tests). Both pass contract-suite.ts.

/** Record headers as UTF-8 strings (Kafka carries bytes; we only ever put text there). */
export type Headers = Readonly<Record<string, string>>;

/** A record to produce. The key picks the partition, so records with one key stay in order. */
export interface OutgoingRecord {
  readonly topic: string;
  /** Never personal data: use an id or a keyed pseudonym. */
  readonly key: string | null;
  readonly value: Buffer | string | null;
  readonly headers?: Headers;
}

/** A record as read from a partition. */
export interface IncomingRecord {
  readonly topic: string;
  readonly partition: number;
  /** Decimal string: Kafka offsets are 64-bit. */
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  /** Milliseconds since the epoch, as a decimal string. */
  readonly timestamp: string;
}

/** A decoded record: the raw record plus what `decode` made of it. */
export interface DecodedRecord<T> extends IncomingRecord {
  readonly message: T;
}

/** Records of one partition, in offset order, that decoded successfully. */
export interface Batch<T> {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly DecodedRecord<T>[];
}

/** Produces records; `send` resolves only once every record is durable (all in-sync replicas). */
export interface BusProducer {
  send(records: readonly OutgoingRecord[]): Promise<void>;
}

/** What a decoder throws for a record that can never be processed (it goes to the dead-letter topic). */
export interface UndecodableRecordError extends Error {
  /** Stable code, e.g. CONTRACT_INVALID. */
  readonly code: string;
  readonly field?: string | undefined;
}

export interface ConsumerOptions<T> {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Turns a raw record into a message; throws an error with a `code` when the record is undecodable. */
  readonly decode: (record: IncomingRecord) => T;
  /** Where undecodable records go (original bytes and headers, plus code, reason and origin). */
  readonly deadLetterTopic: string;
  /**
   * Handles one partition's batch. When it resolves, its effects must be durable: the consumer then
   * commits the offsets. When it throws, nothing is committed and the batch is retried after a backoff.
   */
  readonly handleBatch: (batch: Batch<T>) => Promise<void>;
  /** Upper bound on records per handler call. */
  readonly maxBatchSize?: number;
  /** Backoff between retries of a failing batch (first, then doubled up to max). */
  readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  /** Called when a batch fails and will be retried (for logs and metrics). */
  readonly onBatchError?: (
    error: unknown,
    batch: { topic: string; partition: number; attempt: number },
  ) => void;
}

/** A partition assigned to this consumer. */
export interface Assignment {
  readonly topic: string;
  readonly partition: number;
}

/** A running consumer. */
export interface ConsumerHandle {
  /** Partitions currently assigned to this member of the group. */
  assignments(): readonly Assignment[];
  /**
   * Whether the member is in its group and fetching (or handling a batch): false while it rejoins,
   * restarts after a failure, cannot reach the broker, or after it stopped. Readiness reports it.
   */
  consuming(): boolean;
  /**
   * Stop fetching, finish the batch in flight, commit what it completed, leave the group. Bounded:
   * an adapter abandons clients that do not finish in time (what they did not commit is redelivered).
   */
  stop(): Promise<void>;
}

/** Options of a reader that replays topics from their start, outside any consumer group. */
export interface ReaderOptions {
  readonly topics: readonly string[];
  /** Records of one partition in offset order; called for the replay and then for every new record. */
  readonly onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>;
}

/** A running reader. */
export interface ReaderHandle {
  /** Resolves once every partition has been read up to where it ended when the reader started. */
  readonly caughtUp: Promise<void>;
  /** Whether the reader is following its topics: false while it restarts after a failure, or stopped. */
  consuming(): boolean;
  stop(): Promise<void>;
}

/** The port: one producer per bus, any number of group consumers and state readers. */
export interface MessageBus {
  producer(): BusProducer;
  /**
   * Starts a group consumer; resolves once it has joined the group. A consumer that fails (at start
   * or later, whatever the error) starts again after a backoff, until it is stopped.
   */
  consume<T>(options: ConsumerOptions<T>): Promise<ConsumerHandle>;
  /**
   * Reads whole topics from the beginning, then follows them, committing nothing: every process
   * folds compacted state topics (controllers, endpoints, suppressions) into its own view this way.
   */
  readFromStart(options: ReaderOptions): Promise<ReaderHandle>;
  /** Stops every consumer and reader started from this bus, flushes and disconnects, in bounded time. */
  close(): Promise<void>;
}

/** Header names added to a dead-lettered record. */
export const deadLetterHeaders = {
  code: 'dlq-code',
  reason: 'dlq-reason',
  field: 'dlq-field',
  topic: 'dlq-topic',
  partition: 'dlq-partition',
  offset: 'dlq-offset',
  groupId: 'dlq-group',
} as const;

/** Builds the dead-letter record for an undecodable one: original key, bytes and headers kept as they were. */
export function deadLetterRecord(
  deadLetterTopic: string,
  groupId: string,
  record: IncomingRecord,
  error: unknown,
): OutgoingRecord {
  const code =
    error && typeof error === 'object' && 'code' in error && typeof error.code === 'string'
      ? error.code
      : 'UNDECODABLE';
  const reason = error instanceof Error ? error.message : String(error);
  const field =
    error && typeof error === 'object' && 'field' in error && typeof error.field === 'string'
      ? error.field
      : '';
  return {
    topic: deadLetterTopic,
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [deadLetterHeaders.code]: code,
      [deadLetterHeaders.reason]: reason.slice(0, 500),
      ...(field ? { [deadLetterHeaders.field]: field } : {}),
      [deadLetterHeaders.topic]: record.topic,
      [deadLetterHeaders.partition]: String(record.partition),
      [deadLetterHeaders.offset]: record.offset,
      [deadLetterHeaders.groupId]: groupId,
    },
  };
}

/**
 * Splits fetched records into decoded ones and dead letters. Shared by both adapters so that they
 * agree on what counts as undecodable.
 */
export function decodeRecords<T>(
  options: Pick<ConsumerOptions<T>, 'decode' | 'deadLetterTopic' | 'groupId'>,
  records: readonly IncomingRecord[],
): { decoded: DecodedRecord<T>[]; deadLetters: OutgoingRecord[] } {
  const decoded: DecodedRecord<T>[] = [];
  const deadLetters: OutgoingRecord[] = [];
  for (const record of records) {
    let message: T;
    try {
      message = options.decode(record);
    } catch (error) {
      deadLetters.push(deadLetterRecord(options.deadLetterTopic, options.groupId, record, error));
      continue;
    }
    decoded.push({ ...record, message });
  }
  return { decoded, deadLetters };
}

/** Sleeps for `ms` unless `signal` aborts first; never rejects. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How an adapter lets `processBatch` commit, give up, and keep its group membership alive. */
export interface BatchControl {
  /** Commits the partition up to (excluding) `nextOffset`. */
  commit(nextOffset: string): Promise<void>;
  /** Aborted when the consumer stops. */
  readonly signal: AbortSignal;
  /** Called before every attempt; returns false when the partition was taken away (rebalance). */
  stillOwned?(): Promise<boolean>;
}

/**
 * Runs one batch to completion: dead letters and handler effects first, then the commit. A failing
 * batch is retried in place with backoff until it succeeds, the consumer stops or the partition is
 * revoked; then nothing is committed and the records come back to whoever owns the partition next.
 */
export async function processBatch<T>(
  options: ConsumerOptions<T>,
  producer: BusProducer,
  topic: string,
  partition: number,
  records: readonly IncomingRecord[],
  control: BatchControl,
): Promise<'committed' | 'abandoned'> {
  if (records.length === 0) return 'committed';
  const { decoded, deadLetters } = decodeRecords(options, records);
  const backoff = options.retryBackoffMs ?? { initial: 200, max: 10_000 };
  const nextOffset = (BigInt(records[records.length - 1]!.offset) + 1n).toString();
  let deadLettersSent = deadLetters.length === 0;
  for (let attempt = 1; ; attempt++) {
    if (control.signal.aborted || (control.stillOwned && !(await control.stillOwned()))) return 'abandoned';
    try {
      if (!deadLettersSent) {
        await producer.send(deadLetters);
        deadLettersSent = true;
      }
      if (decoded.length > 0) await options.handleBatch({ topic, partition, records: decoded });
      await control.commit(nextOffset);
      return 'committed';
    } catch (error) {
      options.onBatchError?.(error, { topic, partition, attempt });
      await pause(Math.min(backoff.max, backoff.initial * 2 ** (attempt - 1)), control.signal);
    }
  }
}
