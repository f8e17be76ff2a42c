/**
 * Delay before each attempt (webhooks.md, as Svix): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 10 h — eight attempts over about 27.5 hours. Index = attempts already made.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** Spread of a retry around its slot, so endpoints that failed together do not retry together. */
export const JITTER = 0.2;

/**
 * Default bound on a receiver's `Retry-After` (WEBHOOKS_MAX_RETRY_AFTER_MS); a longer ask falls back
 * to our schedule. It sets when the next attempt is due (a stored time), never an in-process sleep.
 */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * When to try again after `attemptsMade` attempts failed, or undefined to give up. Never earlier
 * than the receiver asked (`Retry-After`, up to `maxRetryAfterMs`), never earlier than the
 * schedule's slot.
 */
export function nextAttemptDelay(
  attemptsMade: number,
  options: {
    retryAfterSeconds?: number | undefined;
    random?: () => number;
    maxRetryAfterMs?: number;
  } = {},
): number | undefined {
  const slot = RETRY_SCHEDULE_MS[attemptsMade];
  if (slot === undefined) return undefined;
  const random = options.random ?? Math.random;
  const jittered = Math.round(slot * (1 - JITTER + 2 * JITTER * random()));
  const asked = options.retryAfterSeconds === undefined ? 0 : options.retryAfterSeconds * 1000;
  return Math.max(jittered, asked <= (options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS) ? asked : 0);
}
