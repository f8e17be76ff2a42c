import { type Assignment, pause } from '@massivesms/messaging';
import type { Consumer, ConsumerConfig, Kafka } from 'kafkajs';
import { BrokerContact, type KafkaLogSink } from './client.ts';

export interface SupervisedConsumerOptions {
  /** Makes this consumer's own client, which reports its failed connections to `contact`. */
  readonly client: (contact: BrokerContact) => Kafka;
  /** Names the consumer in logs (its group, or the topics a reader follows). */
  readonly name: string;
  /** The kafkajs consumer of one attempt (a reader takes a fresh group each time). */
  readonly config: () => ConsumerConfig;
  /**
   * Connects, subscribes and runs one kafkajs consumer; throws when it cannot. Returns early when
   * `signal` aborts between steps (the supervisor disconnects the consumer).
   */
  readonly start: (consumer: Consumer, signal: AbortSignal) => Promise<void>;
  /** Wait before restarting a failed consumer: `initial`, doubled per consecutive failure, up to `max`. */
  readonly restartBackoffMs: { readonly initial: number; readonly max: number };
  /**
   * A member whose connections failed since it last heard from the broker, or that has not fetched,
   * heartbeated or committed for this long, is not consuming (a broker down or that stopped
   * answering, a rebalance that does not end). A member handling a long batch must heartbeat
   * meanwhile to count as consuming (and to keep its partitions).
   */
  readonly stallMs: number;
  readonly log: KafkaLogSink | undefined;
  /** The bootstrap brokers (KAFKA_BROKERS), named when the consumer cannot reach them. */
  readonly brokers?: readonly string[];
}

/** kafkajs errors of a broker that cannot be reached (as opposed to one that refuses a request). */
const UNREACHABLE =
  /KafkaJSConnectionError|KafkaJSNumberOfRetriesExceeded|ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH/;

/** Whether `work` settled before `ms` passed (it goes on either way; the caller stops waiting). */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A session that ran at least this long healthy restarts from the initial backoff again. */
const HEALTHY_AFTER_MS = 60_000;

/**
 * Keeps one kafkajs consumer running until stopped. kafkajs restarts a crashed consumer only for some
 * errors (a `KafkaJSNonRetriableError` such as "Failed to find group coordinator" after a broker
 * outage leaves it dead for good), so its own restart is switched off and every failure, at start-up
 * or later, ends in the same place: the consumer is dropped and a fresh one starts after a bounded
 * exponential backoff that stopping interrupts.
 */
export class SupervisedConsumer {
  readonly #options: SupervisedConsumerOptions;
  readonly #contact = new BrokerContact();
  /** This consumer's client: its sockets tell `#contact` about this consumer's connections only. */
  readonly kafka: Kafka;
  readonly #abort = new AbortController();
  readonly #firstJoin = Promise.withResolvers<void>();
  /** Batches being handled by any attempt: a restart waits for them so a partition never has two. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #current: Consumer | undefined;
  #joined = false;
  #assigned: Assignment[] = [];
  #everJoined = false;
  /** Set by stop(): its drain and disconnect, which the supervisor lets finish. */
  #stopping: Promise<void> | undefined;

  constructor(options: SupervisedConsumerOptions) {
    this.#options = options;
    this.kafka = options.client(this.#contact);
    // Nobody may be waiting for the first join when the consumer is stopped before it.
    this.#firstJoin.promise.catch(() => {});
  }

  /** Aborted when the consumer is stopped. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Starts supervising; resolves once the consumer first joined its group (rejects if stopped before). */
  start(): Promise<void> {
    // Only a programming error gets here (kafkajs refusing the consumer's configuration).
    this.#supervise().catch((error: unknown) => this.#firstJoin.reject(error));
    return this.#firstJoin.promise;
  }

  assignments(): readonly Assignment[] {
    return this.#joined ? [...this.#assigned] : [];
  }

  /** Joined, not crashed or restarting, and in touch with the broker (see `stallMs`). */
  consuming(): boolean {
    return this.#joined && !this.#abort.signal.aborted && this.#contact.inTouch(this.#options.stallMs);
  }

  /** Registers a batch being handled; resolves (never rejects) when it settled. */
  track(work: Promise<void>): Promise<void> {
    const settled = work.then(
      () => {},
      () => {},
    );
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
    return work;
  }

  /** Resolves when every batch being handled now has settled. */
  async drained(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /**
   * Stops restarting (a backoff ends at once), runs `drain`, then disconnects the running consumer,
   * waiting at most `timeoutMs` in all; past that the client is abandoned. A consumer out of touch
   * with the broker is not waited for: its batches could not commit anyway. Returns whether it
   * stopped in time.
   */
  async stop(timeoutMs: number, drain?: () => Promise<void>): Promise<boolean> {
    const inTouch = this.consuming();
    this.#abort.abort();
    this.#firstJoin.reject(new Error(`consumer ${this.#options.name} stopped before it joined its group`));
    const clean = (async () => {
      await drain?.();
      await this.#current?.disconnect();
    })();
    this.#stopping = clean.catch(() => {});
    const inTime = await settlesWithin(clean, inTouch ? timeoutMs : 0);
    this.#left();
    if (!inTime) {
      this.#options.log?.(
        inTouch ? 'warn' : 'info',
        inTouch
          ? 'Kafka consumer did not stop in time; abandoned'
          : 'Kafka consumer stopped while out of touch with the broker; not waiting for it',
        { consumer: this.#options.name, timeoutMs },
      );
    }
    return inTime;
  }

  #left(): void {
    this.#joined = false;
    this.#assigned = [];
  }

  async #supervise(): Promise<void> {
    const { restartBackoffMs, log, name } = this.#options;
    const kafka = this.kafka;
    const signal = this.#abort.signal;
    const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    let failures = 0;
    while (!signal.aborted) {
      // kafkajs must not restart on its own: two restart paths would race for the group.
      const config = this.#options.config();
      const consumer = kafka.consumer({
        ...config,
        retry: { ...config.retry, restartOnFailure: async () => false },
      });
      this.#current = consumer;
      const crashed = Promise.withResolvers<unknown>();
      let joinedAt: number | undefined;
      const touch = () => this.#contact.heard();
      const { events } = consumer;
      const listeners = [
        consumer.on(events.GROUP_JOIN, (event) => {
          this.#assigned = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
            partitions.map((partition) => ({ topic, partition })),
          );
          joinedAt ??= performance.now();
          this.#joined = true;
          touch();
          if (this.#everJoined && failures > 0) {
            log?.('info', 'Kafka consumer rejoined its group', { consumer: name, failures });
          }
          this.#everJoined = true;
          this.#firstJoin.resolve();
        }),
        // Each of these is a round trip the broker answered.
        consumer.on(events.FETCH, touch),
        consumer.on(events.HEARTBEAT, touch),
        consumer.on(events.COMMIT_OFFSETS, touch),
        consumer.on(events.STOP, () => this.#left()),
        consumer.on(events.CRASH, (event) => {
          this.#left();
          crashed.resolve(event.payload.error);
        }),
      ];
      let failure: unknown;
      try {
        await this.#options.start(consumer, signal);
        failure = await Promise.race([crashed.promise, stopped]);
      } catch (error) {
        failure = error;
      }
      const ranHealthy = joinedAt !== undefined && performance.now() - joinedAt >= HEALTHY_AFTER_MS;
      this.#left();
      if (signal.aborted) {
        // stop() drains and disconnects it; a connect in progress then may complete later, though.
        await this.#stopping;
        await consumer.disconnect().catch(() => {});
        for (const remove of listeners) remove();
        return;
      }
      failures = ranHealthy ? 1 : failures + 1;
      const delayMs = Math.min(restartBackoffMs.max, restartBackoffMs.initial * 2 ** (failures - 1));
      const error = describeError(failure);
      const brokers = this.#options.brokers?.join(',');
      log?.('warn', 'Kafka consumer failed; restarting it', {
        consumer: name,
        error,
        failures,
        restartInMs: delayMs,
        // What an operator checks first when no broker answers.
        ...(brokers && UNREACHABLE.test(error)
          ? {
              hint: `cannot reach Kafka at ${brokers} (KAFKA_BROKERS): is the broker running and reachable from here? Check KAFKA_BROKERS and KAFKA_SECURITY_PROTOCOL; the consumer keeps retrying.`,
            }
          : {}),
      });
      // The batches of the failed consumer end first (their commits fail, so they are redelivered).
      await Promise.race([this.drained(), stopped]);
      await Promise.race([consumer.disconnect().catch(() => {}), stopped]);
      for (const remove of listeners) remove();
      await pause(delayMs, signal);
    }
  }
}
