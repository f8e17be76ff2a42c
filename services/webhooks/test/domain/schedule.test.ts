import { describe, expect, it } from 'vitest';
import { judgeAttempt } from '../../src/domain/outcome.ts';
import { statusChangeKey, webhookIdFor } from '../../src/domain/payload.ts';
import {
  JITTER,
  MAX_RETRY_AFTER_MS,
  nextAttemptDelay,
  RETRY_SCHEDULE_MS,
} from '../../src/domain/schedule.ts';

describe('retry schedule', () => {
  it('follows 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h and then gives up', () => {
    const mid = () => 0.5; // no jitter
    expect(RETRY_SCHEDULE_MS.map((_, i) => nextAttemptDelay(i, { random: mid }))).toEqual([
      0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
    expect(nextAttemptDelay(RETRY_SCHEDULE_MS.length, { random: mid })).toBeUndefined();
  });

  it('jitters each slot by ±20 %', () => {
    expect(nextAttemptDelay(2, { random: () => 0 })).toBe(300_000 * (1 - JITTER));
    expect(nextAttemptDelay(2, { random: () => 1 })).toBe(300_000 * (1 + JITTER));
  });

  it('honours Retry-After when later than the slot, up to an hour', () => {
    const mid = () => 0.5;
    expect(nextAttemptDelay(1, { random: mid, retryAfterSeconds: 120 })).toBe(120_000);
    expect(nextAttemptDelay(2, { random: mid, retryAfterSeconds: 1 })).toBe(300_000); // never earlier than the slot
    expect(nextAttemptDelay(1, { random: mid, retryAfterSeconds: MAX_RETRY_AFTER_MS / 1000 + 1 })).toBe(
      5_000,
    );
  });

  it('bounds Retry-After by the configured maximum (WEBHOOKS_MAX_RETRY_AFTER_MS)', () => {
    const mid = () => 0.5;
    const maxRetryAfterMs = 600_000;
    expect(nextAttemptDelay(1, { random: mid, retryAfterSeconds: 600, maxRetryAfterMs })).toBe(600_000);
    // A longer ask than the operator allows falls back to the schedule's slot.
    expect(nextAttemptDelay(1, { random: mid, retryAfterSeconds: 601, maxRetryAfterMs })).toBe(5_000);
  });
});

describe('attempt verdicts', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [302, 'failed'],
    [410, 'gone'],
    [429, 'failed'],
    [400, 'failed'],
    [503, 'failed'],
  ] as const)('HTTP %i is %s', (status, kind) => {
    expect(judgeAttempt({ status, latencyMs: 1 }).kind).toBe(kind);
  });

  it('a redirect is a failure of its own class (never followed)', () => {
    expect(judgeAttempt({ status: 301, latencyMs: 1 })).toEqual({ kind: 'failed', errorClass: 'redirect' });
  });

  it('no response keeps the transport class', () => {
    expect(judgeAttempt({ error: 'ssrf_refused', latencyMs: 1 })).toEqual({
      kind: 'failed',
      errorClass: 'ssrf_refused',
    });
  });
});

describe('webhook ids', () => {
  it('are derived: the same status event and endpoint always give the same id, without a dot', () => {
    const id = webhookIdFor('evt-1', 'ep-1');
    expect(webhookIdFor('evt-1', 'ep-1')).toBe(id);
    expect(webhookIdFor('evt-1', 'ep-2')).not.toBe(id);
    expect(webhookIdFor('evt-2', 'ep-1')).not.toBe(id);
    expect(id).toMatch(/^msg_[A-Za-z0-9_-]{32}$/);
  });

  it('a status republished with a new event id is the same change (same key); the next change is not', () => {
    const change = { controllerId: 'acme', messageId: 'm-1', statusSeq: 2, status: 'queued' as const };
    expect(statusChangeKey({ ...change })).toBe(statusChangeKey(change));
    expect(statusChangeKey({ ...change, statusSeq: 3, status: 'sent' })).not.toBe(statusChangeKey(change));
  });
});
