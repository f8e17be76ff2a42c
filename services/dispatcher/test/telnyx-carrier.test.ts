import { startTelnyxSimulator, type TelnyxSimulator } from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answered, telnyxCarrier, telnyxTransportFailure } from '../src/adapters/telnyx-carrier.ts';
import type { OutboundSms, SendOutcome } from '../src/application/ports.ts';
import { classifySendFailure } from '../src/domain/classify.ts';

// The Telnyx adapter sends over its own undici pool: what it makes of each answer, and the bound on
// one call, which covers the wait for a connection.
const sms = (to: string): OutboundSms => ({
  to,
  from: '+14155550100',
  text: 'Your order has shipped.',
  callbackUrl: `http://127.0.0.1:9/receipts/telnyx/acme/${to}`,
  attempt: 1,
});
const classOf = (outcome: SendOutcome) =>
  outcome.accepted ? { class: 'B_ACCEPTED' as const } : classifySendFailure(outcome.failure);
const errorBody = (code: string) => JSON.stringify({ errors: [{ code, title: 't', detail: 'd' }] });
const now = new Date('2026-06-01T12:00:00Z');

describe('a Telnyx answer', () => {
  it.each([
    [
      '200 with data.id and parts is accepted with its segments',
      200,
      {},
      JSON.stringify({ data: { id: 'tx-1', parts: 2 } }),
      { accepted: true, carrierMessageId: 'tx-1', segments: 2 },
    ],
    [
      '200 without data.id is a failure with its status (it may have been created)',
      200,
      {},
      JSON.stringify({ data: {} }),
      { accepted: false, failure: { carrier: 'telnyx', kind: 'http', httpStatus: 200 } },
    ],
    [
      '200 whose body does not parse is unexpected',
      200,
      {},
      '<html>',
      { accepted: false, failure: { carrier: 'telnyx', kind: 'unexpected' } },
    ],
    [
      '429 with delta-seconds Retry-After carries the wait',
      429,
      { 'retry-after': '7' },
      errorBody('10011'),
      {
        accepted: false,
        failure: {
          carrier: 'telnyx',
          kind: 'http',
          httpStatus: 429,
          carrierCode: '10011',
          hasCarrierBody: true,
          retryAfterSeconds: 7,
        },
      },
    ],
    [
      '503 with an HTTP-date Retry-After carries the seconds until then',
      503,
      { 'retry-after': 'Mon, 01 Jun 2026 12:00:30 GMT' },
      errorBody('10007'),
      {
        accepted: false,
        failure: {
          carrier: 'telnyx',
          kind: 'http',
          httpStatus: 503,
          carrierCode: '10007',
          hasCarrierBody: true,
          retryAfterSeconds: 30,
        },
      },
    ],
    [
      '502 from a proxy (HTML) has no carrier body',
      502,
      {},
      '<html>Bad gateway</html>',
      {
        accepted: false,
        failure: {
          carrier: 'telnyx',
          kind: 'http',
          httpStatus: 502,
          hasCarrierBody: false,
          retryAfterSeconds: undefined,
        },
      },
    ],
  ] as const)('%s', (_label, status, headers, text, expected) => {
    expect(answered(status, headers, text, now)).toEqual(expected);
  });

  it('a rate limit with Retry-After is "not accepted" and pauses the account for that long', () => {
    const outcome = answered(429, { 'retry-after': '7' }, errorBody('10011'), now);
    expect(classOf(outcome)).toMatchObject({ class: 'A_NOT_ACCEPTED', retryAfterSeconds: 7 });
  });

  it.each([
    ['a refused connect', { code: 'ECONNREFUSED', syscall: 'connect' }, 'connect_refused'],
    ['an unresolved host', { code: 'ENOTFOUND', syscall: 'getaddrinfo' }, 'dns'],
    ['a connect timeout', { code: 'UND_ERR_CONNECT_TIMEOUT' }, 'connect_timeout'],
    ['a headers timeout', { code: 'UND_ERR_HEADERS_TIMEOUT' }, 'response_timeout'],
    ['a socket closed by the other side', { code: 'UND_ERR_SOCKET' }, 'reset'],
    ['something without a code', new Error('boom'), 'unexpected'],
  ] as const)('undici error: %s → %s', (_label, error, kind) => {
    expect(telnyxTransportFailure(error)).toEqual({ carrier: 'telnyx', kind });
  });
});

describe('the Telnyx adapter over its pool', () => {
  let sim: TelnyxSimulator;
  beforeAll(async () => {
    sim = await startTelnyxSimulator({ apiKey: 'KEY_GOOD' });
  });
  afterAll(() => sim.close());

  it('a send waiting for a free connection counts the wait in its bound: ambiguous, and never sent late', async () => {
    const carrier = telnyxCarrier({
      apiKey: 'KEY_GOOD',
      baseUrl: sim.baseUrl,
      timeoutMs: 300,
      connections: 1,
    });
    await sim.faults.clear();
    // The only connection is held by a send the carrier never answers.
    sim.faults.next({ timeoutAfterAccept: true });
    const before = sim.ledger.size;
    const [held, queued] = await Promise.all([
      carrier.send(sms('+14155552001')),
      carrier.send(sms('+14155552002')),
    ]);
    expect(classOf(held)).toMatchObject({ class: 'C_AMBIGUOUS' });
    expect(classOf(queued)).toMatchObject({ class: 'C_AMBIGUOUS' });
    await carrier.close?.();
    // The queued one gave up within its own bound instead of going out once the connection freed.
    expect(sim.ledger.size).toBe(before + 1);
  });

  it('close waits for calls in flight, then the pool is gone', async () => {
    const carrier = telnyxCarrier({ apiKey: 'KEY_GOOD', baseUrl: sim.baseUrl, timeoutMs: 1_000 });
    await sim.faults.clear();
    const sending = carrier.send(sms('+14155552003'));
    await carrier.close?.();
    expect((await sending).accepted).toBe(true);
  });
});
