import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/domain/token-bucket.ts';

describe('token bucket (segments per second)', () => {
  it('lets a burst through, then spaces requests at the rate', () => {
    const b = new TokenBucket(10, 5, 0);
    expect([1, 1, 1, 1, 1].map(() => b.reserve(1, 0))).toEqual([0, 0, 0, 0, 0]);
    expect(b.reserve(1, 0)).toBe(100); // one token takes 100 ms at 10/s
    expect(b.reserve(2, 0)).toBe(300);
  });

  it('refills with time, never above the burst', () => {
    const b = new TokenBucket(10, 5, 0);
    b.reserve(5, 0);
    expect(b.reserve(3, 300)).toBe(0); // 3 tokens back after 300 ms
    expect(b.reserve(1, 10_000)).toBe(0);
    expect([1, 1, 1, 1].map(() => b.reserve(1, 10_000))).toEqual([0, 0, 0, 0]); // burst 5, not 100
    expect(b.reserve(1, 10_000)).toBe(100);
  });

  it('counts a multi-part message by its segments, and a message larger than the burst once full', () => {
    const b = new TokenBucket(1, 3, 0);
    expect(b.reserve(7, 0)).toBe(0); // capped at the burst: it waits for nothing more than a full bucket
    expect(b.reserve(1, 0)).toBe(1_000);
  });

  it('honours a carrier pause (Retry-After)', () => {
    const b = new TokenBucket(10, 5, 0);
    b.pauseUntil(2_000, 0);
    expect(b.reserve(1, 0)).toBeGreaterThanOrEqual(2_000);
  });

  it('refuses a nonsensical rate', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(RangeError);
  });
});
