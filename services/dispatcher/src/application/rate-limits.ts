import { TokenBucket } from '../domain/token-bucket.ts';
import type { CarrierName } from './ports.ts';

/** Segments per second per sender kind and per carrier account (carriers.md: Telnyx 50/s per account). */
export interface RateLimitConfig {
  readonly accountPerSecond: Readonly<Record<CarrierName, number>>;
  readonly senderPerSecond: Readonly<Record<'e164' | 'short_code' | 'alphanumeric', number>>;
}

/** Conservative defaults: long codes are slow (10DLC), short codes fast, accounts at Telnyx's default. */
export const defaultRateLimits: RateLimitConfig = {
  accountPerSecond: { telnyx: 50, twilio: 50 },
  senderPerSecond: { e164: 10, short_code: 100, alphanumeric: 10 },
};

/**
 * Rate limits per carrier account and per sender, counted in segments. `wait` sleeps until both
 * buckets allow the message (throttling its partition, not spinning); `pause` applies a carrier's
 * Retry-After to the whole account.
 */
export class RateLimits {
  readonly #config: RateLimitConfig;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(
    config: RateLimitConfig = defaultRateLimits,
    now: () => number = Date.now,
    sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.#config = config;
    this.#now = now;
    this.#sleep = sleep;
  }

  /** Waits until `carrier`'s account and `sender` may send `segments` more. */
  async wait(
    carrier: CarrierName,
    sender: string,
    kind: keyof RateLimitConfig['senderPerSecond'],
    segments: number,
  ) {
    const now = this.#now();
    const account = this.#bucket(`account:${carrier}`, this.#config.accountPerSecond[carrier], now);
    const perSender = this.#bucket(`sender:${carrier}:${sender}`, this.#config.senderPerSecond[kind], now);
    const delay = Math.max(account.reserve(segments, now), perSender.reserve(segments, now));
    if (delay > 0) await this.#sleep(delay);
    return delay;
  }

  /** Stops sending through `carrier` until `untilMs` (its Retry-After / x-ratelimit-reset). */
  pause(carrier: CarrierName, untilMs: number): void {
    const now = this.#now();
    this.#bucket(`account:${carrier}`, this.#config.accountPerSecond[carrier], now).pauseUntil(untilMs, now);
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
