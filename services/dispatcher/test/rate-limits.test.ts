import { describe, expect, it } from 'vitest';
import { RateLimits } from '../src/application/rate-limits.ts';

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
