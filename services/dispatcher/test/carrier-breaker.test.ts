import { describe, expect, it } from 'vitest';
import { BreakerOpenError, type BreakerState, CarrierBreaker } from '../src/application/carrier-breaker.ts';

class CarrierDown extends Error {
  readonly health = true;
}
class InvalidNumber extends Error {
  readonly health = false;
}

function breaker(resetTimeoutMs = 60_000) {
  const transitions: BreakerState[] = [];
  const b = new CarrierBreaker({
    carrier: 'telnyx',
    countsAgainstBreaker: (e) => (e as { health?: boolean }).health === true,
    volumeThreshold: 5,
    errorThresholdPercentage: 50,
    resetTimeoutMs,
    onStateChange: (_carrier, state) => transitions.push(state),
  });
  return { b, transitions };
}

describe('carrier circuit breaker (opossum)', () => {
  it('when Telnyx fails five times with carrier errors, the breaker opens and the next call is not made', async () => {
    const { b, transitions } = breaker();
    for (let i = 0; i < 5; i++)
      await expect(b.call(async () => Promise.reject(new CarrierDown()))).rejects.toBeInstanceOf(CarrierDown);
    expect(b.state).toBe('open');
    expect(transitions).toEqual(['open']);
    let called = false;
    await expect(
      b.call(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(BreakerOpenError);
    expect(called).toBe(false);
    b.shutdown();
  });

  it('per-message errors (invalid number, opted out) never open it', async () => {
    const { b } = breaker();
    for (let i = 0; i < 20; i++)
      await expect(b.call(async () => Promise.reject(new InvalidNumber()))).rejects.toBeInstanceOf(
        InvalidNumber,
      );
    expect(b.state).toBe('closed');
    expect(await b.call(async () => 'sent')).toBe('sent');
    b.shutdown();
  });

  it('after the reset timeout a real call probes half-open, and a success closes it', async () => {
    const { b, transitions } = breaker(50);
    for (let i = 0; i < 5; i++)
      await expect(b.call(async () => Promise.reject(new CarrierDown()))).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 80));
    expect(b.state).toBe('half_open');
    expect(await b.call(async () => 'queued')).toBe('queued');
    expect(b.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half_open', 'closed']);
    b.shutdown();
  });
});
