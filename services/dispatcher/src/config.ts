import {
  base64KeySchema,
  ConfigError,
  commonSpec,
  defineConfig,
  retentionSpec,
  tokenSchema,
} from '@massivesms/config';
import { z } from 'zod';
import { defaultRateLimits } from './application/rate-limits.ts';

const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/**
 * `name=rate,…` (segments per second, > 0) over `defaults`: each name given replaces its default,
 * the others keep theirs; an unknown name or a bad rate is refused.
 */
function ratesSchema<K extends string>(defaults: Readonly<Record<K, number>>) {
  const names = Object.keys(defaults) as K[];
  const error = `must be name=rate pairs separated by commas (names: ${names.join(', ')}; rates > 0 per second)`;
  return z.string().transform((text, ctx) => {
    const rates: Record<K, number> = { ...defaults };
    for (const pair of text.split(',')) {
      const [name, rate, extra] = pair.trim().split('=');
      const value = Number(rate);
      if (
        extra !== undefined ||
        !names.includes(name as K) ||
        !/^\d+(\.\d+)?$/.test(rate ?? '') ||
        !(value > 0)
      ) {
        ctx.addIssue({ code: 'custom', message: error });
        return z.NEVER;
      }
      rates[name as K] = value;
    }
    return rates;
  });
}
const rateText = (rates: Readonly<Record<string, number>>) =>
  Object.entries(rates)
    .map(([name, rate]) => `${name}=${rate}`)
    .join(',');

/** Environment of `massivesms dispatcher`. Carrier hosts default to the cell's region (DESIGN.md §3.1). */
export const dispatcherSpec = defineConfig({
  ...commonSpec,
  ...retentionSpec,
  DISPATCHER_PUBLIC_BASE_URL: {
    schema: url.optional(),
    description:
      'Public https base URL the carriers post receipts to (our message id goes into each callback path); Twilio signatures are checked against it. Unset: the local address (development only).',
  },
  TELNYX_API_KEY: { schema: tokenSchema(8), secret: true, description: "The cell's Telnyx API key." },
  TELNYX_PUBLIC_KEY: {
    schema: base64KeySchema(32),
    description: "The cell's Telnyx webhook public key (base64 ed25519) for verifying receipts.",
  },
  TELNYX_BASE_URL: {
    schema: url.optional(),
    description:
      'Telnyx API base URL including `/v2`. Unset: `https://api.telnyx.com/v2` (us) or `https://api.telnyx.eu/v2` (eu).',
  },
  TELNYX_MESSAGING_PROFILE_ID: {
    schema: z.string().min(1).optional(),
    description: 'Messaging profile for alphanumeric senders and number pools.',
  },
  TWILIO_ACCOUNT_SID: {
    schema: z.string().regex(/^AC[0-9a-f]{32}$/, { error: 'must be AC followed by 32 hex digits' }),
    description: "The cell's Twilio account SID (IE1 credentials for eu: US1 tokens do not work there).",
  },
  TWILIO_AUTH_TOKEN: { schema: tokenSchema(8), secret: true, description: "The cell's Twilio auth token." },
  TWILIO_BASE_URL: {
    schema: url.optional(),
    description:
      'Twilio API base URL. Unset: `https://api.twilio.com` (us) or `https://api.dublin.ie1.twilio.com` (eu).',
  },
  DISPATCHER_SENDING_TIMEOUT_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 1_000, { error: 'must be at least 1000' }),
    default: '600000',
    description:
      'A message still `sending` after this had its process die mid-call: it becomes `unknown` (never resent). Must exceed 2 × `CARRIER_TIMEOUT_MS` + `DISPATCHER_MAX_RETRY_AFTER_MS` (a send may pause and try two carriers), or the dispatcher refuses to start.',
  },
  DISPATCHER_QUARANTINE_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 1_000, { error: 'must be at least 1000' }),
    default: '21600000',
    description:
      'How long an `unknown` outcome waits for a receipt before it is closed as `failed` (DISPATCH_OUTCOME_UNKNOWN).',
  },
  DISPATCHER_RECEIPT_DEADLINE_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 1_000, { error: 'must be at least 1000' }),
    default: '3600000',
    description:
      'A message the carrier accepted with no final receipt after this is looked up at the carrier (then again every half of this, at most every 30 min).',
  },
  DISPATCHER_FINALISE_AFTER_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 1_000, { error: 'must be at least 1000' }),
    default: '86400000',
    description:
      'A message the carrier accepted that still has no final status after this is closed as `undelivered` (CARRIER_DELIVERY_UNCONFIRMED).',
  },
  DISPATCHER_MAX_CARRIER_WAIT_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 1_000, { error: 'must be at least 1000' }),
    default: '86400000',
    description:
      'A message that no carrier its instruction allows can take (breakers open, or refused with no failover) is parked; still not sent this long after the router accepted it, it is closed as `failed` (DISPATCH_CARRIER_UNAVAILABLE) and never sent. Its `validUntil`, when earlier, ends it first (`expired`).',
  },
  DISPATCHER_MAX_RETRY_AFTER_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n <= 600_000, { error: 'must be from 0 to 600000' }),
    default: '60000',
    description:
      "Longest pause a carrier's `Retry-After` imposes on its account while the batch's messages are claimed; a carrier asking for longer counts as unavailable (breaker, failover). Keep it well below `DISPATCHER_SENDING_TIMEOUT_MS`: a claim older than that is reconciled as `unknown`.",
  },
  DISPATCHER_ACCOUNT_RATES: {
    schema: ratesSchema(defaultRateLimits.accountPerSecond),
    default: rateText(defaultRateLimits.accountPerSecond),
    description:
      'Segments per second each carrier account may send, as `carrier=rate` pairs; a carrier left out keeps its default. Set to what the carrier granted the account (benchmarks lift it for the simulators).',
  },
  DISPATCHER_SENDER_RATES: {
    schema: ratesSchema(defaultRateLimits.senderPerSecond),
    default: rateText(defaultRateLimits.senderPerSecond),
    description:
      'Segments per second one sender may send, by kind, as `kind=rate` pairs (`e164` long codes, `short_code`, `alphanumeric`); a kind left out keeps its default. Long codes: the registered (10DLC) throughput.',
  },
  CARRIER_TIMEOUT_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 100 && n <= 60_000, { error: 'must be from 100 to 60000' }),
    default: '10000',
    description:
      'Bound on one carrier call; a timeout after the request was written is ambiguous (`unknown`), never resent.',
  },
});

/**
 * Checks that the reconciliation sweep never takes a send still in progress for a dead one: a message
 * stays claimed (`sending`) through a Retry-After pause and a call to each of two carriers (failover),
 * so DISPATCHER_SENDING_TIMEOUT_MS must exceed all three. Throws ConfigError naming the variables.
 */
export function checkSendingTimeout(config: {
  dispatcherSendingTimeoutMs: number;
  carrierTimeoutMs: number;
  dispatcherMaxRetryAfterMs: number;
}): void {
  const longest = 2 * config.carrierTimeoutMs + config.dispatcherMaxRetryAfterMs;
  if (config.dispatcherSendingTimeoutMs <= longest)
    throw new ConfigError([
      {
        variable: 'DISPATCHER_SENDING_TIMEOUT_MS',
        reason: `must be longer than a send may take: 2 × CARRIER_TIMEOUT_MS + DISPATCHER_MAX_RETRY_AFTER_MS = ${longest} ms (a send still in progress would be reconciled as unknown)`,
      },
    ]);
}

/** Carrier API hosts of each cell: EU traffic stays on EU hosts. */
export const regionHosts = {
  us: { telnyx: 'https://api.telnyx.com/v2', twilio: 'https://api.twilio.com' },
  eu: { telnyx: 'https://api.telnyx.eu/v2', twilio: 'https://api.dublin.ie1.twilio.com' },
} as const;

const VARIABLES = { telnyx: 'TELNYX_BASE_URL', twilio: 'TWILIO_BASE_URL' } as const;

/**
 * The carrier base URLs a cell calls: its own region's hosts unless overridden (a simulator, an
 * egress proxy). An override naming another region's carrier host is refused: that would send EU
 * recipients' data to US hosts (or the reverse) while every record says otherwise.
 */
export function carrierEndpoints(
  cell: keyof typeof regionHosts,
  overrides: { telnyx?: string | undefined; twilio?: string | undefined },
): { telnyx: string; twilio: string } {
  const foreign = new Set(
    Object.entries(regionHosts)
      .filter(([region]) => region !== cell)
      .flatMap(([, hosts]) => Object.values(hosts).map((u) => new URL(u).host)),
  );
  const problems = (['telnyx', 'twilio'] as const).flatMap((carrier) => {
    const override = overrides[carrier];
    return override && foreign.has(new URL(override).host)
      ? [{ variable: VARIABLES[carrier], reason: `is a carrier host of another region than ${cell}` }]
      : [];
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    telnyx: overrides.telnyx ?? regionHosts[cell].telnyx,
    twilio: overrides.twilio ?? regionHosts[cell].twilio,
  };
}
