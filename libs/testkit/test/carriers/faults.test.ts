import { describe, expect, it } from 'vitest';
import { carrierSegments, FaultConfigError, FaultController, Ledger } from '../../src/carriers/index.ts';

function controller(): { faults: FaultController; switches: boolean[] } {
  const switches: boolean[] = [];
  const faults = new FaultController({
    setRefusing: async (on) => {
      switches.push(on);
    },
  });
  return { faults, switches };
}

describe('fault configuration', () => {
  it.each([
    [{ next: [{ status5xx: 200 }] }, /500\.\.599/],
    [{ next: [{ status5xx: 500, reset: true }] }, /exclusive/],
    [{ next: [{ latencyMs: -1 }] }, /milliseconds/],
    [{ next: {} }, /array/],
    [{ always: { explode: true } }, /unknown field "explode"/],
    [{ recipients: { '+15550000000': { error: 'lost' } } }, /invalidNumber, optedOut or contentRejected/],
    [{ receipts: { failDelivery: { status: 'sent' } } }, /undelivered/],
    [{ refuse: {} }, /forMs is required over HTTP/],
    [{ surprise: 1 }, /unknown field "surprise"/],
    [[], /JSON object/],
  ])('rejects %j', async (config, message) => {
    const { faults } = controller();
    await expect(faults.configure(config, { viaHttp: true })).rejects.toThrow(FaultConfigError);
    await expect(faults.configure(config, { viaHttp: true })).rejects.toThrow(message);
  });

  it('changes nothing when any part of a configuration is invalid', async () => {
    const { faults } = controller();
    await expect(
      faults.configure({ next: [{ status5xx: 503 }], always: { rateLimit: 'yes' } }),
    ).rejects.toThrow();
    expect(faults.snapshot().queued).toEqual([]);
  });

  it('hands out queued faults in order, then the persistent one', () => {
    const { faults } = controller();
    faults
      .always({ status5xx: 503 })
      .next({ rateLimit: true }, { reset: { afterAccept: true } }, { latencyMs: 5 });
    expect(faults.takeRequestFault()?.effect).toEqual({ kind: 'rateLimit', retryAfterSeconds: 1 });
    expect(faults.takeRequestFault()?.effect).toEqual({ kind: 'reset', afterAccept: true });
    expect(faults.takeRequestFault()).toEqual({ latencyMs: 5, effect: { kind: 'none' } });
    expect(faults.takeRequestFault()?.effect).toEqual({ kind: 'status5xx', status: 503, carrierBody: true });
    expect(faults.takeRequestFault()?.effect).toEqual({ kind: 'status5xx', status: 503, carrierBody: true });
    faults.always(null);
    expect(faults.takeRequestFault()).toBeUndefined();
  });

  it('prefers a recipient receipt behaviour over the global one', () => {
    const { faults } = controller();
    faults.receipts({ duplicateReceipts: true }).recipient('+15550000009', { receipts: { drop: true } });
    expect(faults.receiptBehaviour('+15550000009')).toEqual({ drop: true });
    expect(faults.receiptBehaviour('+15550000010')).toEqual({ duplicateReceipts: true });
  });

  it('refuses until accepted, or for forMs, and clear() accepts again', async () => {
    const { faults, switches } = controller();
    await faults.refuseConnections();
    expect(faults.snapshot().refusing).toBe(true);
    await faults.clear();
    await faults.configure({ refuse: { forMs: 20 } }, { viaHttp: true });
    await new Promise((r) => setTimeout(r, 60));
    expect(switches).toEqual([true, false, true, false]);
    expect(faults.refusing).toBe(false);
  });
});

describe('ledger', () => {
  it('counts sends by the message id in the callback URL path', () => {
    const ledger = new Ledger();
    const entry = (callbackUrl: string | undefined) => ({
      carrier: 'telnyx' as const,
      carrierMessageId: 'x',
      to: '+15550000001',
      from: '+15550000002',
      text: 't',
      callbackUrl,
      acceptedAt: new Date(),
      response: 'answered' as const,
      fields: {},
    });
    ledger.record(entry('http://h/receipts/telnyx/msg-1'));
    ledger.record(entry('http://h/receipts/telnyx/msg-1?retry=1'));
    ledger.record(entry('http://h/receipts/telnyx/msg-10'));
    ledger.record(entry(undefined));
    expect(ledger.countForCallbackId('msg-1')).toBe(2);
    expect(ledger.countForCallbackId('msg-10')).toBe(1);
    expect(ledger.countFor((e) => e.callbackUrl === undefined)).toBe(1);
    ledger.clear();
    expect(ledger.size).toBe(0);
  });
});

describe('carrier segment counting', () => {
  it.each([
    ['', 'GSM-7', 1],
    ['a'.repeat(160), 'GSM-7', 1],
    ['a'.repeat(161), 'GSM-7', 2],
    ['€'.repeat(80), 'GSM-7', 1],
    ['€'.repeat(81), 'GSM-7', 2],
    [`${'a'.repeat(152)}€`, 'GSM-7', 1],
    ['a'.repeat(306), 'GSM-7', 2],
    ['a'.repeat(307), 'GSM-7', 3],
    ['ç', 'UCS-2', 1],
    ['😀'.repeat(35), 'UCS-2', 1],
    ['😀'.repeat(36), 'UCS-2', 2],
    // 66 units then a surrogate pair: the pair does not fit in part 1 (67), so three parts, not two.
    ['a'.repeat(66) + '😀'.repeat(34), 'UCS-2', 3],
  ] as const)('%j → %s, %i part(s)', (text, encoding, parts) => {
    expect(carrierSegments(text)).toEqual({ encoding, parts });
  });
});
