import { randomBytes } from 'node:crypto';
import { ConfigError, parseConfig } from '@massivesms/config';
import { describe, expect, it } from 'vitest';
import { defaultRateLimits } from '../src/application/rate-limits.ts';
import { dispatcherSpec } from '../src/config.ts';

const key = () => randomBytes(32).toString('base64');
const env = (overrides: Record<string, string> = {}) => ({
  CELL: 'eu',
  KMS_MASTER_KEY: key(),
  TELNYX_API_KEY: 'KEY-test-0123456789',
  TELNYX_PUBLIC_KEY: key(),
  TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
  TWILIO_AUTH_TOKEN: 'token-test-0123456789',
  ...overrides,
});

function problems(overrides: Record<string, string>) {
  try {
    parseConfig(dispatcherSpec, env(overrides));
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
}

describe('dispatcher configuration: the Retry-After cap', () => {
  it('caps a carrier-requested pause at 60 s unless told otherwise', () => {
    expect(parseConfig(dispatcherSpec, env()).dispatcherMaxRetryAfterMs).toBe(60_000);
    expect(
      parseConfig(dispatcherSpec, env({ DISPATCHER_MAX_RETRY_AFTER_MS: '0' })).dispatcherMaxRetryAfterMs,
    ).toBe(0);
  });

  it.each([
    ['600001', {}, 'must be from 0 to 600000'],
    ['1.5', {}, 'must be a whole number of milliseconds'],
  ])('refuses DISPATCHER_MAX_RETRY_AFTER_MS=%s (%j)', (value, others, reason) => {
    expect(problems({ DISPATCHER_MAX_RETRY_AFTER_MS: value, ...others })).toEqual([
      { variable: 'DISPATCHER_MAX_RETRY_AFTER_MS', reason: expect.stringContaining(reason) },
    ]);
  });
});

describe('dispatcher configuration: rate limits', () => {
  it('defaults to the conservative limits, and a pair given replaces only its own', () => {
    const config = parseConfig(dispatcherSpec, env());
    expect(config.dispatcherAccountRates).toEqual(defaultRateLimits.accountPerSecond);
    expect(config.dispatcherSenderRates).toEqual(defaultRateLimits.senderPerSecond);
    const raised = parseConfig(
      dispatcherSpec,
      env({ DISPATCHER_ACCOUNT_RATES: 'telnyx=1000', DISPATCHER_SENDER_RATES: 'e164=2.5, short_code=500' }),
    );
    expect(raised.dispatcherAccountRates).toEqual({ telnyx: 1000, twilio: 50 });
    expect(raised.dispatcherSenderRates).toEqual({ e164: 2.5, short_code: 500, alphanumeric: 10 });
  });

  it.each([
    ['DISPATCHER_ACCOUNT_RATES', 'plivo=10'],
    ['DISPATCHER_ACCOUNT_RATES', 'telnyx=0'],
    ['DISPATCHER_ACCOUNT_RATES', 'telnyx=fast'],
    ['DISPATCHER_ACCOUNT_RATES', 'telnyx=10=20'],
    ['DISPATCHER_SENDER_RATES', 'e164'],
    ['DISPATCHER_SENDER_RATES', 'e164=-1'],
  ])('refuses %s=%s, naming the accepted names', (variable, value) => {
    expect(problems({ [variable]: value })).toEqual([
      { variable, reason: expect.stringContaining('must be name=rate pairs') },
    ]);
  });
});
