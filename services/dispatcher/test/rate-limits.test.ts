import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimits, RateLimitWaitAbortedError } from '../src/application/rate-limits.ts';

describe('rate limits per carrier account and per sender (in segments)', () => {
  function limits() {
    let now = 0;
    const slept: number[] = [];
    const r = new RateLimits(
      {
        accountPerSecond: { telnyx: 50, twilio: 50 },
        senderPerSecond: { e164: 2, short_code: 100, alphanumeric: 2 },
      },
      () => now,
      async (ms) => {
        slept.push(ms);
        now += ms;
      },
    );
    return { r, slept };
  }

  it('throttles one long-code sender without slowing another', async () => {
    const { r, slept } = limits();
    await r.wait('telnyx', '+14155550100', 'e164', 1);
    await r.wait('telnyx', '+14155550100', 'e164', 1);
    await r.wait('telnyx', '+14155550100', 'e164', 1); // third segment in the same instant: waits 500 ms
    expect(slept).toEqual([500]);
    await r.wait('telnyx', '+14155550199', 'e164', 1); // another sender is not held up
    expect(slept).toEqual([500]);
  });

  it('counts segments, not messages', async () => {
    const { r, slept } = limits();
    await r.wait('twilio', 'ACME', 'alphanumeric', 2);
    await r.wait('twilio', 'ACME', 'alphanumeric', 2);
    expect(slept).toEqual([1_000]);
  });

  it("a carrier's Retry-After pauses its whole account", async () => {
    const { r, slept } = limits();
    r.pause('telnyx', 3_000);
    await r.wait('telnyx', '12345', 'short_code', 1);
    expect(slept[0]).toBeGreaterThanOrEqual(3_000);
    await r.wait('twilio', '12345', 'short_code', 1); // the other carrier is not paused
    expect(slept).toHaveLength(1);
  });
});

describe('bounded, stoppable rate-limit waits', () => {
  const config = {
    accountPerSecond: { telnyx: 50, twilio: 50 },
    senderPerSecond: { e164: 2, short_code: 100, alphanumeric: 2 },
    maxRetryAfterMs: 60_000,
  };
  function limits() {
    let now = 0;
    const slept: number[] = [];
    const r = new RateLimits(
      config,
      () => now,
      async (ms) => {
        slept.push(ms);
        now += ms;
      },
    );
    return { r, slept };
  }

  afterEach(() => {
    vi.useRealTimers();
  });

  it('a carrier asking to retry in 5 hours pauses its account only up to the cap, and is reported as unavailable', async () => {
    const { r, slept } = limits();
    expect(r.pause('telnyx', 5 * 3_600_000)).toBe(true);
    await r.wait('telnyx', '12345', 'short_code', 1);
    expect(slept).toHaveLength(1);
    expect(slept[0]).toBeGreaterThanOrEqual(59_000);
    expect(slept[0]).toBeLessThanOrEqual(60_100);
  });

  it('a Retry-After within the cap is honoured as asked', async () => {
    const { r, slept } = limits();
    expect(r.pause('telnyx', 3_000)).toBe(false);
    await r.wait('telnyx', '12345', 'short_code', 1);
    expect(slept[0]).toBeGreaterThanOrEqual(3_000);
    expect(slept[0]).toBeLessThan(3_100);
  });

  it('an unreadable Retry-After (NaN) pauses up to the cap rather than not at all', async () => {
    const { r, slept } = limits();
    expect(r.pause('telnyx', Number.NaN)).toBe(true);
    await r.wait('telnyx', '12345', 'short_code', 1);
    expect(slept[0]).toBeGreaterThanOrEqual(59_000);
    expect(slept[0]).toBeLessThanOrEqual(60_100);
  });

  it('the cap defaults to 60 s', async () => {
    let now = 0;
    const slept: number[] = [];
    const r = new RateLimits(
      { accountPerSecond: config.accountPerSecond, senderPerSecond: config.senderPerSecond },
      () => now,
      async (ms) => {
        slept.push(ms);
        now += ms;
      },
    );
    r.pause('twilio', 24 * 3_600_000);
    await r.wait('twilio', '12345', 'short_code', 1);
    expect(slept[0]).toBeLessThanOrEqual(60_100);
  });

  it('stopping the dispatcher cuts a wait short with a clear error and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const r = new RateLimits(config, Date.now);
    r.pause('telnyx', Date.now() + 30_000);
    const stop = new AbortController();
    let outcome: unknown = 'pending';
    r.wait('telnyx', '12345', 'short_code', 1, stop.signal).then(
      () => {
        outcome = 'resolved';
      },
      (error: unknown) => {
        outcome = error;
      },
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(outcome).toBe('pending'); // still paused: 29 s to go
    stop.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome).toBeInstanceOf(RateLimitWaitAbortedError);
    expect(outcome).toMatchObject({ code: 'DISPATCH_RATE_WAIT_ABORTED', carrier: 'telnyx', retryable: true });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('once the dispatcher is stopping, no message passes the limiter, even one that would not wait', async () => {
    const { r, slept } = limits();
    const stop = new AbortController();
    stop.abort();
    await expect(r.wait('twilio', 'ACME', 'alphanumeric', 1, stop.signal)).rejects.toBeInstanceOf(
      RateLimitWaitAbortedError,
    );
    expect(slept).toEqual([]);
  });
});
