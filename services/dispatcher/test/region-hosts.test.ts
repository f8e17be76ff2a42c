import { ConfigError } from '@massivesms/config';
import { findSubprocessor } from '@massivesms/privacy';
import { describe, expect, it } from 'vitest';
import { carrierEndpoints, checkSendingTimeout, regionHosts } from '../src/config.ts';

// DPA §2/§7: each cell calls its own region's carrier hosts; EU traffic never leaves EU hosts.
describe('carrier hosts per cell', () => {
  it.each(['us', 'eu'] as const)(
    'the %s cell calls exactly the hosts the subprocessor registry lists for it',
    (cell) => {
      for (const carrier of ['telnyx', 'twilio'] as const) {
        const registered = findSubprocessor(carrier)?.regions[cell]?.host;
        expect(new URL(regionHosts[cell][carrier]).host).toBe(registered);
      }
    },
  );

  it('no EU host is a US host', () => {
    const us = Object.values(regionHosts.us).map((u) => new URL(u).host);
    for (const host of Object.values(regionHosts.eu).map((u) => new URL(u).host))
      expect(us).not.toContain(host);
  });
});

describe('carrier endpoints of a running cell', () => {
  it('with no override, the eu cell calls only the EU hosts of the registry', () => {
    const endpoints = carrierEndpoints('eu', {});
    expect(new URL(endpoints.telnyx).host).toBe('api.telnyx.eu');
    expect(new URL(endpoints.twilio).host).toBe('api.dublin.ie1.twilio.com');
  });

  it('an override naming another region’s carrier host is refused, naming the variable', () => {
    expect(() =>
      carrierEndpoints('eu', { telnyx: 'https://api.telnyx.com/v2', twilio: 'https://api.twilio.com' }),
    ).toThrowError(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        problems: [
          { variable: 'TELNYX_BASE_URL', reason: 'is a carrier host of another region than eu' },
          { variable: 'TWILIO_BASE_URL', reason: 'is a carrier host of another region than eu' },
        ],
      }),
    );
    expect(() => carrierEndpoints('us', { twilio: 'https://api.dublin.ie1.twilio.com' })).toThrowError(
      /TWILIO_BASE_URL/,
    );
  });

  it('an override that is no carrier host (a simulator, an egress proxy) is used as given', () => {
    expect(carrierEndpoints('eu', { telnyx: 'http://127.0.0.1:4010/v2' })).toEqual({
      telnyx: 'http://127.0.0.1:4010/v2',
      twilio: 'https://api.dublin.ie1.twilio.com',
    });
  });
});

describe('the sending timeout', () => {
  const config = {
    dispatcherSendingTimeoutMs: 600_000,
    carrierTimeoutMs: 10_000,
    dispatcherMaxRetryAfterMs: 60_000,
  };

  it('the defaults leave a send room for a Retry-After pause and two carrier calls', () => {
    expect(() => checkSendingTimeout(config)).not.toThrow();
  });

  it('is refused, naming the variable, when a send in progress could outlast it', () => {
    const error = (() => {
      try {
        checkSendingTimeout({ ...config, dispatcherSendingTimeoutMs: 80_000 });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.objectContaining({
        variable: 'DISPATCHER_SENDING_TIMEOUT_MS',
        reason: expect.stringContaining('80000 ms'),
      }),
    ]);
    expect(() => checkSendingTimeout({ ...config, dispatcherSendingTimeoutMs: 80_001 })).not.toThrow();
  });
});
