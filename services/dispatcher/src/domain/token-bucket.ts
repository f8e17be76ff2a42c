/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. Pure: the caller passes
 * the time, and gets back how long to wait before its request fits.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst >= 1');
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.#tokens = burst;
    this.#updatedAt = nowMs;
  }

  /**
   * Reserves `n` tokens (a message's segments) and returns the milliseconds to wait before sending.
   * A request larger than the burst is allowed once the bucket is full, so it can never starve.
   */
  reserve(n: number, nowMs: number): number {
    this.#refill(nowMs);
    const cost = Math.min(n, this.burst);
    this.#tokens -= cost;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.ratePerSecond) * 1000);
  }

  /** Empties the bucket until `untilMs` (a carrier said Retry-After or x-ratelimit-reset). */
  pauseUntil(untilMs: number, nowMs: number): void {
    this.#refill(nowMs);
    const missing = Math.max(0, ((untilMs - nowMs) / 1000) * this.ratePerSecond);
    this.#tokens = Math.min(this.#tokens, -missing);
  }

  #refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.#updatedAt) / 1000;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.ratePerSecond);
    this.#updatedAt = nowMs;
  }
}
