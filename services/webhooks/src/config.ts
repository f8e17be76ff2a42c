import { commonSpec, defineConfig, retentionSpec } from '@massivesms/config';
import { allowListSchema } from '@massivesms/ssrf';
import { z } from 'zod';

const ms = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `must be from ${min} to ${max}` });
const count = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number' })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `must be from ${min} to ${max}` });

/** Environment of `massivesms webhooks`. */
export const webhooksSpec = defineConfig({
  ...commonSpec,
  ...retentionSpec,
  WEBHOOKS_ALLOWLIST: {
    schema: allowListSchema(),
    description:
      'Comma-separated hosts, IPs or CIDRs deliveries may reach even though they are not public (and over http). For the demo and tests only; empty in production.',
  },
  WEBHOOKS_ATTEMPT_TIMEOUT_MS: {
    schema: ms(1_000, 60_000),
    default: '15000',
    description: 'Bound on one delivery attempt, connect to response (webhooks.md: 15–30 s).',
  },
  WEBHOOKS_CONNECT_TIMEOUT_MS: {
    schema: ms(100, 30_000),
    default: '5000',
    description: 'Bound on connecting to an endpoint.',
  },
  WEBHOOKS_PER_ENDPOINT_CONCURRENCY: {
    schema: count(1, 256),
    default: '8',
    description: 'Deliveries in flight per endpoint per process: a slow endpoint holds at most this many.',
  },
  WEBHOOKS_PER_ENDPOINT_RATE: {
    schema: count(1, 100_000),
    default: '100',
    description: 'Attempts per second per endpoint per process.',
  },
  WEBHOOKS_MAX_IN_FLIGHT: {
    schema: count(1, 10_000),
    default: '256',
    description: 'Deliveries in flight per process.',
  },
  WEBHOOKS_MAX_RETRY_AFTER_MS: {
    schema: ms(0, 24 * 3_600_000),
    default: '3600000',
    description:
      "A receiver's `Retry-After` up to this sets when its next attempt is due (a stored time, never a sleep); a longer ask falls back to the retry schedule. `0` ignores `Retry-After`.",
  },
  WEBHOOKS_DISABLE_AFTER_MS: {
    schema: ms(60_000, 30 * 24 * 3_600_000),
    default: String(5 * 24 * 3_600_000),
    description: 'Continuous failure after which an endpoint is disabled (the customer is told first).',
  },
});
