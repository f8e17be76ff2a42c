import { TokenBucket } from '../domain/token-bucket.ts';
import type { CarrierName } from './ports.ts';

/** Segments per second per sender kind and per carrier account (carriers.md: Telnyx 50/s per account). */
export interface RateLimitConfig {
  readonly accountPerSecond: Readonly<Record<CarrierName, number>>;
  readonly senderPerSecond: Readonly<Record<'e164' | 'short_code' | 'alphanumeric', number>>;
  /**
   * Longest pause a carrier's Retry-After may impose (default DEFAULT_MAX_RETRY_AFTER_MS). The wait
   * happens inside a batch whose messages are claimed: a carrier asking for hours must not hold them
   * for hours. Past the cap the carrier is unavailable (breaker, failover), not waited for.
   */
  readonly maxRetryAfterMs?: number;
}

/** Default cap on a carrier-requested pause (DISPATCHER_MAX_RETRY_AFTER_MS). */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/** Conservative defaults: long codes are slow (10DLC), short codes fast, accounts at Telnyx's default. */
export const defaultRateLimits: RateLimitConfig = {
  accountPerSecond: { telnyx: 50, twilio: 50 },
  senderPerSecond: { e164: 10, short_code: 100, alphanumeric: 10 },
  maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS,
};

/**
 * A rate-limit wait was cut short because the dispatcher is stopping. Nothing was sent for the
 * message that waited: its batch must not be committed, and its claim may be released.
 */
export class RateLimitWaitAbortedError extends Error {
  override readonly name = 'RateLimitWaitAbortedError';
  readonly code = 'DISPATCH_RATE_WAIT_ABORTED';
  readonly retryable = true;
  readonly carrier: CarrierName;

  constructor(carrier: CarrierName, options?: ErrorOptions) {
    super(`rate-limit wait for ${carrier} aborted: the dispatcher is stopping (nothing was sent)`, options);
    this.carrier = carrier;
  }
}

/** Sleeps `ms` unless `signal` aborts first; then rejects with the signal's reason. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** setTimeout-based Sleep that clears its timer on abort (so a stopping process is not kept alive). */
export const timerSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Rate limits per carrier account and per sender, counted in segments. `wait` sleeps until both
 * buckets allow the message (throttling its partition, not spinning); `pause` applies a carrier's
 * Retry-After to the whole account, capped at `maxRetryAfterMs`.
 */
export class RateLimits {
  readonly #config: RateLimitConfig;
  readonly #maxRetryAfterMs: number;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(
    config: RateLimitConfig = defaultRateLimits,
    now: () => number = Date.now,
    sleep: Sleep = timerSleep,
  ) {
    const cap = config.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    if (!Number.isFinite(cap) || cap < 0)
      throw new RangeError('maxRetryAfterMs must be a finite number >= 0');
    this.#config = config;
    this.#maxRetryAfterMs = cap;
    this.#now = now;
    this.#sleep = sleep;
  }

  /**
   * Waits until `carrier`'s account and `sender` may send `segments` more; resolves with the wait in
   * ms. Rejects with RateLimitWaitAbortedError, at once or mid-wait, when `signal` is aborted (the
   * dispatcher is stopping): no message passes the limiter after that.
   */
  async wait(
    carrier: CarrierName,
    sender: string,
    kind: keyof RateLimitConfig['senderPerSecond'],
    segments: number,
    signal?: AbortSignal,
  ): Promise<number> {
    if (signal?.aborted) throw new RateLimitWaitAbortedError(carrier, { cause: signal.reason });
    const now = this.#now();
    const account = this.#bucket(`account:${carrier}`, this.#config.accountPerSecond[carrier], now);
    const perSender = this.#bucket(`sender:${carrier}:${sender}`, this.#config.senderPerSecond[kind], now);
    const delay = Math.max(account.reserve(segments, now), perSender.reserve(segments, now));
    if (delay > 0) {
      try {
        await this.#sleep(delay, signal);
      } catch (error) {
        if (signal?.aborted) throw new RateLimitWaitAbortedError(carrier, { cause: signal.reason });
        throw error;
      }
    }
    return delay;
  }

  /**
   * Stops sending through `carrier` until `untilMs` (its Retry-After / x-ratelimit-reset), but never
   * for longer than `maxRetryAfterMs` from now. Returns true when the carrier asked for longer than
   * that: the route should be treated as unavailable (breaker, failover) rather than waited for.
   */
  pause(carrier: CarrierName, untilMs: number): boolean {
    const now = this.#now();
    const cap = now + this.#maxRetryAfterMs;
    // NaN (an unreadable date) counts as "longer than we wait", never as "no pause at all".
    const capped = !(untilMs <= cap);
    this.#bucket(`account:${carrier}`, this.#config.accountPerSecond[carrier], now).pauseUntil(
      capped ? cap : untilMs,
      now,
    );
    return capped;
  }

  #bucket(key: string, ratePerSecond: number, now: number): TokenBucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(ratePerSecond, Math.max(1, Math.ceil(ratePerSecond)), now);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }
}
