import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telnyxCarrier } from '../src/adapters/telnyx-carrier.ts';
import { twilioCarrier } from '../src/adapters/twilio-carrier.ts';
import type { CarrierPort, OutboundSms, SendOutcome } from '../src/application/ports.ts';
import { classifySendFailure } from '../src/domain/classify.ts';

// The carrier adapters against the simulators (both send over their undici pools):
// every class of outcome of carriers.md ends up classified the way the dispatcher acts on it.
const sms = (overrides: Partial<OutboundSms> = {}): OutboundSms => ({
  to: '+14155552671',
  from: '+14155550100',
  text: 'Your order has shipped.',
  callbackUrl: 'http://127.0.0.1:9/receipts/telnyx/acme/m-1',
  attempt: 1,
  ...overrides,
});

function classOf(outcome: SendOutcome) {
  if (outcome.accepted) return { class: 'B_ACCEPTED' as const };
  return classifySendFailure(outcome.failure);
}

type Sim = TelnyxSimulator | TwilioSimulator;

const carriers: [string, () => Promise<{ sim: Sim; carrier: CarrierPort; wrongKey: CarrierPort }>][] = [
  [
    'telnyx',
    async () => {
      const sim = await startTelnyxSimulator({ apiKey: 'KEY_GOOD' });
      return {
        sim,
        carrier: telnyxCarrier({ apiKey: 'KEY_GOOD', baseUrl: sim.baseUrl, timeoutMs: 500 }),
        wrongKey: telnyxCarrier({ apiKey: 'KEY_WRONG', baseUrl: sim.baseUrl, timeoutMs: 500 }),
      };
    },
  ],
  [
    'twilio',
    async () => {
      const accountSid = `AC${'1'.repeat(32)}`;
      const sim = await startTwilioSimulator({ accountSid, authToken: 'token-good' });
      return {
        sim,
        carrier: twilioCarrier({ accountSid, authToken: 'token-good', baseUrl: sim.baseUrl, timeoutMs: 500 }),
        wrongKey: twilioCarrier({
          accountSid,
          authToken: 'token-wrong',
          baseUrl: sim.baseUrl,
          timeoutMs: 500,
        }),
      };
    },
  ],
];

describe.each(carriers)('%s adapter → simulator', (name, start) => {
  let sim: Sim;
  let carrier: CarrierPort;
  let wrongKey: CarrierPort;
  beforeAll(async () => {
    ({ sim, carrier, wrongKey } = await start());
  });
  afterAll(() => sim.close());

  it('accepted: returns the carrier id, and the simulator holds exactly one send with our callback URL', async () => {
    sim.faults.clear();
    const before = sim.ledger.size;
    const outcome = await carrier.send(sms({ callbackUrl: `http://127.0.0.1:9/receipts/${name}/acme/ok-1` }));
    expect(outcome.accepted).toBe(true);
    expect(sim.ledger.size).toBe(before + 1);
    expect(sim.ledger.countForCallbackId('ok-1')).toBe(1);
  });

  it.each([
    ['an invalid number', 'invalidNumber', 'D_PERMANENT', false],
    ['an opted-out recipient', 'optedOut', 'D_PERMANENT', true],
  ] as const)(
    '%s is permanent for the message and never trips the breaker',
    async (_l, error, klass, suppress) => {
      sim.faults.clear();
      sim.faults.recipient('+14155552999', { error });
      const result = classOf(await carrier.send(sms({ to: '+14155552999' })));
      expect(result.class).toBe(klass);
      if (result.class === 'D_PERMANENT') {
        expect(result.countsAgainstBreaker).toBe(false);
        expect(result.suppress).toBe(suppress);
      }
      sim.faults.recipient('+14155552999', null);
    },
  );

  it('a 5xx with the carrier error body is "not accepted": fail over, counts against the breaker', async () => {
    sim.faults.clear();
    sim.faults.next({ status5xx: 503 });
    const result = classOf(await carrier.send(sms()));
    expect(result).toMatchObject({
      class: 'A_NOT_ACCEPTED',
      action: 'fail_over',
      countsAgainstBreaker: true,
    });
  });

  it('a 502 without a carrier body is ambiguous: unknown, reconcile, never resend', async () => {
    sim.faults.clear();
    sim.faults.next({ status5xx: { status: 502, carrierBody: false } });
    expect(classOf(await carrier.send(sms()))).toMatchObject({ class: 'C_AMBIGUOUS', status: 'unknown' });
  });

  it('rate limited: not accepted, fail over', async () => {
    sim.faults.clear();
    sim.faults.next({ rateLimit: true });
    expect(classOf(await carrier.send(sms()))).toMatchObject({ class: 'A_NOT_ACCEPTED' });
  });

  it('connection refused: nothing was sent, fail over', async () => {
    sim.faults.clear();
    const before = sim.ledger.size;
    await sim.faults.refuseConnections({ forMs: 1_000 });
    const outcome = await carrier.send(sms());
    await sim.faults.acceptConnections();
    expect(classOf(outcome)).toMatchObject({ class: 'A_NOT_ACCEPTED', countsAgainstBreaker: true });
    expect(sim.ledger.size).toBe(before);
  });

  it('a response timeout after the carrier accepted is ambiguous, and the carrier did accept it', async () => {
    sim.faults.clear();
    sim.faults.next({ timeoutAfterAccept: true });
    const before = sim.ledger.size;
    const outcome = await carrier.send(
      sms({ callbackUrl: `http://127.0.0.1:9/receipts/${name}/acme/late-1` }),
    );
    expect(classOf(outcome)).toMatchObject({ class: 'C_AMBIGUOUS' });
    expect(sim.ledger.size).toBe(before + 1); // the reason a blind resend would double-send
  });

  it('a revoked key (auth fault) and a full queue are "not accepted": fail over, nothing recorded', async () => {
    sim.faults.clear();
    const before = sim.ledger.size;
    sim.faults.next({ authFailure: true }, { queueFull: true });
    expect(classOf(await carrier.send(sms()))).toMatchObject({
      class: 'A_NOT_ACCEPTED',
      code: 'CARRIER_AUTH_FAILED',
      alert: 'auth',
    });
    expect(classOf(await carrier.send(sms()))).toMatchObject({
      class: 'A_NOT_ACCEPTED',
      code: 'CARRIER_QUEUE_FULL',
      countsAgainstBreaker: true,
    });
    expect(sim.ledger.size).toBe(before);
  });

  it('wrong credentials: not accepted, alerts', async () => {
    sim.faults.clear();
    expect(classOf(await wrongKey.send(sms()))).toMatchObject({ class: 'A_NOT_ACCEPTED', alert: 'auth' });
  });
});
