import CircuitBreaker from 'opossum';
import type { CarrierName } from './ports.ts';

/** Breaker states as metrics and audit events name them. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Thrown instead of calling a carrier whose breaker is open (nothing was sent). */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError';
  readonly code = 'CARRIER_BREAKER_OPEN';
  readonly carrier: CarrierName;
  constructor(carrier: CarrierName) {
    super(`the ${carrier} circuit breaker is open`);
    this.carrier = carrier;
  }
}

export interface CarrierBreakerOptions {
  readonly carrier: CarrierName;
  /** Errors that are about one message (invalid number, opted out, content) must not trip it. */
  readonly countsAgainstBreaker: (error: unknown) => boolean;
  readonly errorThresholdPercentage?: number;
  /** Failures needed in the window before the breaker may open. */
  readonly volumeThreshold?: number;
  /** How long the breaker stays open before a half-open probe (real traffic) is let through. */
  readonly resetTimeoutMs?: number;
  readonly rollingWindowMs?: number;
  readonly onStateChange?: (carrier: CarrierName, state: BreakerState) => void;
}

/**
 * One opossum breaker per (cell, carrier). `call` runs a send through it: carrier-health failures
 * count, per-message errors pass through uncounted, and an open breaker fails fast with
 * BreakerOpenError so the caller can fail over (or hold the message).
 */
export class CarrierBreaker {
  readonly carrier: CarrierName;
  readonly #breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(options: CarrierBreakerOptions) {
    this.carrier = options.carrier;
    this.#breaker = new CircuitBreaker((action: () => Promise<unknown>) => action(), {
      timeout: false, // the SDK's own timeout bounds a call; a second timer would only race it
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 5,
      resetTimeout: options.resetTimeoutMs ?? 30_000,
      rollingCountTimeout: options.rollingWindowMs ?? 10_000,
      errorFilter: (error: unknown) => !options.countsAgainstBreaker(error),
    });
    const report = (state: BreakerState) => options.onStateChange?.(this.carrier, state);
    this.#breaker.on('open', () => report('open'));
    this.#breaker.on('halfOpen', () => report('half_open'));
    this.#breaker.on('close', () => report('closed'));
  }

  /** Current state (for metrics, readiness and the failover decision). */
  get state(): BreakerState {
    if (this.#breaker.opened) return 'open';
    return this.#breaker.halfOpen ? 'half_open' : 'closed';
  }

  /** Runs `action` through the breaker; rejects with BreakerOpenError without calling it when open. */
  async call<T>(action: () => Promise<T>): Promise<T> {
    try {
      return (await this.#breaker.fire(action)) as T;
    } catch (error) {
      if ((error as { code?: string }).code === 'EOPENBREAKER') throw new BreakerOpenError(this.carrier);
      throw error;
    }
  }

  /** Stops the breaker's timers (shutdown, tests). */
  shutdown(): void {
    this.#breaker.shutdown();
  }
}
