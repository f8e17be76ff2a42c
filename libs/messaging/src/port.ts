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

/**
 * Thrown or reported by a batch handler for one record it could not process. `retryable` says whether
 * another attempt may succeed (a key service that did not answer) or not (a ciphertext that fails
 * authentication): the consumer retries the first kind a bounded number of times and dead-letters
 * the second at once. The message becomes the dead letter's reason, so it says where, never what.
 */
export class RecordFailedError extends Error {
  override readonly name = 'RecordFailedError';
  /** Stable code from the error registry (libs/contracts errors.ts). */
  readonly code: string;
  readonly retryable: boolean;
  /** Path of the field at fault, when one is. */
  readonly field: string | undefined;

  constructor(
    code: string,
    reason: string,
    options: { retryable: boolean; field?: string | undefined; cause?: unknown },
  ) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable;
    this.field = options.field;
  }

  /** A failure another attempt may overcome (a dependency down, a key not available yet). */
  static retryable(code: string, reason: string, options: { field?: string; cause?: unknown } = {}) {
    return new RecordFailedError(code, reason, { ...options, retryable: true });
  }

  /** A failure every attempt would repeat (the bytes themselves are at fault): dead-lettered at once. */
  static nonRetryable(code: string, reason: string, options: { field?: string; cause?: unknown } = {}) {
    return new RecordFailedError(code, reason, { ...options, retryable: false });
  }
}

/**
 * Whether another attempt may succeed: the error's own `retryable` property when it has one (our
 * errors do), otherwise true, since a failure nobody classified may well be transient.
 */
export function isRetryable(error: unknown): boolean {
  if (error && typeof error === 'object' && 'retryable' in error && typeof error.retryable === 'boolean') {
    return error.retryable;
  }
  return true;
}

/** A record of the batch that the handler could not process, and why (ideally a RecordFailedError). */
export interface FailedRecord {
  readonly record: IncomingRecord;
  readonly error: unknown;
}

/** What a handler may resolve with: the records it could not process; every other record succeeded. */
export interface BatchResult {
  readonly failed: readonly FailedRecord[];
}

export interface ConsumerOptions<T> {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Turns a raw record into a message; throws an error with a `code` when the record is undecodable. */
  readonly decode: (record: IncomingRecord) => T;
  /**
   * Where records that cannot be processed go: undecodable ones, and those the handler reports as
   * failed (at once when not retryable, after `maxAttempts` when retryable). See `deadLetterRecord`.
   */
  readonly deadLetterTopic: string;
  /**
   * What a dead letter keeps of the record's value. `original` (default) keeps the bytes, for topics
   * whose personal fields are encrypted or pseudonymised. `omit` keeps key and headers only, for
   * topics that carry plaintext personal data (sms.requested.v1): replay reads the value back from
   * the source topic while that still retains it.
   */
  readonly deadLetterValue?: 'original' | 'omit';
  /**
   * Handles one partition's batch. When it resolves, its effects must be durable: the consumer then
   * commits the offsets. When it throws, nothing is committed and the whole batch is retried after a
   * backoff, without bound (a database that is down fails every record alike; that is no reason to
   * dead-letter them). To fail single records, resolve with `{ failed }`: the other records count as
   * done, and only the failed ones are handed over again (retryable errors, after a backoff, up to
   * `maxAttempts`) or dead-lettered (the rest); the offsets are committed once every record is
   * settled. A retried record may therefore take effect after later records of its partition.
   */
  readonly handleBatch: (batch: Batch<T>) => Promise<void> | Promise<BatchResult>;
  /** Upper bound on records per handler call. */
  readonly maxBatchSize?: number;
  /** Backoff between retries of a failing batch or record (first, then doubled up to max). */
  readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
  /**
   * Attempts at a record that keeps failing with a retryable error before it is dead-lettered
   * (default 10: about 40 s with the default backoff).
   */
  readonly maxAttempts?: number;
  /** Called when a batch fails and will be retried (for logs and metrics). */
  readonly onBatchError?: (
    error: unknown,
    batch: { topic: string; partition: number; attempt: number },
  ) => void;
  /** Called for each record the handler reported as failed: retried again, or dead-lettered. */
  readonly onRecordFailed?: (
    error: unknown,
    record: {
      topic: string;
      partition: number;
      offset: string;
      attempt: number;
      outcome: 'retry' | 'dead-letter';
      code: string;
    },
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

/** Header names added to a dead-lettered record (every one starts with `dlq-`; replay strips them). */
export const deadLetterHeaders = {
  code: 'dlq-code',
  reason: 'dlq-reason',
  field: 'dlq-field',
  topic: 'dlq-topic',
  partition: 'dlq-partition',
  offset: 'dlq-offset',
  groupId: 'dlq-group',
  /** How many times the record was tried (1 for undecodable and non-retryable failures). */
  attempts: 'dlq-attempts',
  /** `true` when the last error was retryable and the attempts ran out; `false` when permanent. */
  retryable: 'dlq-retryable',
  /** `original` when the dead letter holds the record's bytes, `omitted` when only the source does. */
  value: 'dlq-value',
  /** Timestamp of the source record (ms since the epoch). */
  sourceTimestamp: 'dlq-source-timestamp',
} as const;

const DEAD_LETTER_HEADER_PREFIX = 'dlq-';

/** Code of a failure that carried none of its own (documented in libs/contracts errors.ts). */
export const UNCLASSIFIED_FAILURE_CODE = 'RECORD_UNPROCESSABLE';

function codeOf(error: unknown): string | undefined {
  return error && typeof error === 'object' && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

/** A cause as a reason may name it: its code when it has one, else its class, never its message. */
export function describeCause(cause: unknown): string {
  return codeOf(cause) ?? (cause instanceof Error ? cause.name : 'non-error value');
}

/**
 * The reason a dead letter carries, which must be free of personal data. Coded errors are ours and
 * say where, never what (a field path, a record id), so their message is kept; any other error may
 * echo input (a driver quoting a value), so only its class name is kept.
 */
export function deadLetterReason(error: unknown): string {
  if (!(error instanceof Error)) return 'non-error value thrown (withheld)';
  const reason = codeOf(error) ? error.message : `${error.name} (message withheld: the error has no code)`;
  return reason.slice(0, 500);
}

/** Where dead letters of a consumer go, and what they keep of the value. */
export type DeadLetterTarget = Pick<
  ConsumerOptions<unknown>,
  'deadLetterTopic' | 'groupId' | 'deadLetterValue'
>;

/**
 * Builds the dead letter of a record: original key and headers, the value unless the consumer omits
 * it, plus `dlq-*` headers naming the code, reason, source topic/partition/offset, group and attempts.
 */
export function deadLetterRecord(
  target: DeadLetterTarget,
  record: IncomingRecord,
  error: unknown,
  attempts = 1,
): OutgoingRecord {
  const field =
    error && typeof error === 'object' && 'field' in error && typeof error.field === 'string'
      ? error.field
      : '';
  const keepValue = (target.deadLetterValue ?? 'original') === 'original';
  return {
    topic: target.deadLetterTopic,
    key: record.key,
    value: keepValue ? record.value : null,
    headers: {
      ...record.headers,
      [deadLetterHeaders.code]: codeOf(error) ?? UNCLASSIFIED_FAILURE_CODE,
      [deadLetterHeaders.reason]: deadLetterReason(error),
      ...(field ? { [deadLetterHeaders.field]: field } : {}),
      [deadLetterHeaders.topic]: record.topic,
      [deadLetterHeaders.partition]: String(record.partition),
      [deadLetterHeaders.offset]: record.offset,
      [deadLetterHeaders.groupId]: target.groupId,
      [deadLetterHeaders.attempts]: String(attempts),
      [deadLetterHeaders.retryable]: String(isRetryable(error)),
      [deadLetterHeaders.value]: keepValue ? 'original' : 'omitted',
      [deadLetterHeaders.sourceTimestamp]: record.timestamp,
    },
  };
}

/** A dead letter as read back from the dead-letter topic (what `massivesms deadletter list` shows). */
export interface DeadLetter {
  /** Position of the dead letter itself on the dead-letter topic. */
  readonly partition: number;
  readonly offset: string;
  /** When it was dead-lettered (ISO 8601). */
  readonly at: string;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly groupId: string;
  readonly code: string;
  readonly reason: string;
  readonly field: string | undefined;
  readonly attempts: number;
  /** True when the record was given up on after retryable failures, false when it failed for good. */
  readonly retryable: boolean;
  /** False when the value was omitted (plaintext personal data): replay reads it from the source. */
  readonly valueKept: boolean;
  /** The dead-letter record as read (key, value and headers, for replay). */
  readonly record: IncomingRecord;
}

/** Reads a record of the dead-letter topic; undefined when it is not a dead letter (no source headers). */
export function readDeadLetter(record: IncomingRecord): DeadLetter | undefined {
  const h = record.headers;
  const topic = h[deadLetterHeaders.topic];
  const partition = Number(h[deadLetterHeaders.partition]);
  const offset = h[deadLetterHeaders.offset];
  if (!topic || !Number.isInteger(partition) || !offset || !/^\d+$/.test(offset)) return undefined;
  const attempts = Number(h[deadLetterHeaders.attempts] ?? '1');
  return {
    partition: record.partition,
    offset: record.offset,
    at: new Date(Number(record.timestamp)).toISOString(),
    source: { topic, partition, offset },
    groupId: h[deadLetterHeaders.groupId] ?? '',
    code: h[deadLetterHeaders.code] ?? UNCLASSIFIED_FAILURE_CODE,
    reason: h[deadLetterHeaders.reason] ?? '',
    field: h[deadLetterHeaders.field] || undefined,
    attempts: Number.isInteger(attempts) && attempts > 0 ? attempts : 1,
    retryable: h[deadLetterHeaders.retryable] === 'true',
    valueKept: h[deadLetterHeaders.value] !== 'omitted',
    record,
  };
}

/**
 * The record a replay produces: the original key, value and headers (without any `dlq-` header) to
 * the source topic. `value` replaces the dead letter's own when it was omitted (read from the source).
 */
export function replayRecord(deadLetter: DeadLetter, value?: Buffer | null): OutgoingRecord {
  const headers: Record<string, string> = {};
  for (const [name, text] of Object.entries(deadLetter.record.headers)) {
    if (!name.startsWith(DEAD_LETTER_HEADER_PREFIX)) headers[name] = text;
  }
  return {
    topic: deadLetter.source.topic,
    key: deadLetter.record.key,
    value: value === undefined ? deadLetter.record.value : value,
    headers,
  };
}

/**
 * Splits fetched records into decoded ones and dead letters. Shared by both adapters so that they
 * agree on what counts as undecodable.
 */
export function decodeRecords<T>(
  options: Pick<ConsumerOptions<T>, 'decode' | 'deadLetterTopic' | 'groupId' | 'deadLetterValue'>,
  records: readonly IncomingRecord[],
): { decoded: DecodedRecord<T>[]; deadLetters: OutgoingRecord[] } {
  const decoded: DecodedRecord<T>[] = [];
  const deadLetters: OutgoingRecord[] = [];
  for (const record of records) {
    let message: T;
    try {
      message = options.decode(record);
    } catch (error) {
      deadLetters.push(deadLetterRecord(options, record, error));
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

const DEFAULT_MAX_ATTEMPTS = 10;

/** The failures a handler reported, by offset; a record that is not in the batch is a bug. */
function failuresOf(result: unknown, pending: readonly IncomingRecord[]): Map<string, unknown> {
  const failures = new Map<string, unknown>();
  if (!result || typeof result !== 'object' || !('failed' in result) || !Array.isArray(result.failed)) {
    return failures;
  }
  const offsets = new Set(pending.map((r) => r.offset));
  for (const { record, error } of result.failed as FailedRecord[]) {
    if (!offsets.has(record.offset)) {
      throw new TypeError(`handler reported offset ${record.offset} as failed, which is not in its batch`);
    }
    failures.set(record.offset, error);
  }
  return failures;
}

/**
 * Runs one batch to completion: the handler's effects and the dead letters first, then the commit.
 * A batch whose handler throws is retried in place with backoff until it succeeds, the consumer stops
 * or the partition is revoked; then nothing is committed and the records come back to whoever owns
 * the partition next. Records the handler reports as failed are handed to it again after a backoff
 * while their error is retryable and attempts remain, and dead-lettered otherwise, so a poison record
 * never stalls its partition; the dead letters are produced (acknowledged) before the commit.
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
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  const nextOffset = (BigInt(records[records.length - 1]!.offset) + 1n).toString();
  const delay = (attempt: number) => Math.min(backoff.max, backoff.initial * 2 ** (attempt - 1));
  /** Records not settled yet: neither handled nor dead-lettered. */
  let pending = decoded;
  /** Attempts at each record that failed on its own (a thrown batch does not count). */
  const attempts = new Map<string, number>();
  for (let attempt = 1; ; attempt++) {
    if (control.signal.aborted || (control.stillOwned && !(await control.stillOwned()))) return 'abandoned';
    try {
      if (pending.length > 0) {
        const failures = failuresOf(
          await options.handleBatch({ topic, partition, records: pending }),
          pending,
        );
        const retry: DecodedRecord<T>[] = [];
        for (const record of pending) {
          if (!failures.has(record.offset)) continue;
          const error = failures.get(record.offset);
          const tried = (attempts.get(record.offset) ?? 0) + 1;
          attempts.set(record.offset, tried);
          const again = isRetryable(error) && tried < maxAttempts;
          if (again) retry.push(record);
          else deadLetters.push(deadLetterRecord(options, record, error, tried));
          options.onRecordFailed?.(error, {
            topic,
            partition,
            offset: record.offset,
            attempt: tried,
            outcome: again ? 'retry' : 'dead-letter',
            code: codeOf(error) ?? UNCLASSIFIED_FAILURE_CODE,
          });
        }
        pending = retry;
      }
      if (pending.length > 0) {
        await pause(delay(attempt), control.signal);
        continue;
      }
      if (deadLetters.length > 0) {
        await producer.send(deadLetters);
        deadLetters.length = 0;
      }
      await control.commit(nextOffset);
      return 'committed';
    } catch (error) {
      options.onBatchError?.(error, { topic, partition, attempt });
      await pause(delay(attempt), control.signal);
    }
  }
}
