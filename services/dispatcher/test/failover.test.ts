import { defineSubprocessorRegistry, SUBPROCESSORS, toControllerId } from '@massivesms/privacy';
import { eventually } from '@massivesms/testkit';
import type { TelnyxSimulator } from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchFixture } from './fixtures.ts';
import { type DispatcherHarness, startDispatcherHarness } from './harness.ts';

// carriers.md class A: the carrier did not take the message and says it is unhealthy. Each such
// fault, end to end through Kafka and PostgreSQL, moves the message to Twilio exactly once.
describe('every class-A fault at Telnyx fails over to Twilio (real Kafka and PostgreSQL)', () => {
  let h: DispatcherHarness;
  beforeAll(async () => {
    // The breaker never opens here: each message must find the fault on its own Telnyx call.
    h = await startDispatcherHarness({
      dispatcher: { breaker: { volumeThreshold: 10_000 }, rateLimits: false },
    });
    await h.publishController('acme', ['telnyx', 'twilio']);
  });
  afterAll(() => h.close());

  const faults: [string, (telnyx: TelnyxSimulator) => Promise<unknown>, string][] = [
    [
      'a 503 with the carrier error body',
      async (t) => t.faults.next({ status5xx: 503 }),
      'CARRIER_INTERNAL_ERROR',
    ],
    ['a 429 (rate limited)', async (t) => t.faults.next({ rateLimit: true }), 'CARRIER_RATE_LIMITED'],
    ['a revoked key (401)', async (t) => t.faults.next({ authFailure: true }), 'CARRIER_AUTH_FAILED'],
    ['a full queue (40318)', async (t) => t.faults.next({ queueFull: true }), 'CARRIER_QUEUE_FULL'],
    ['connection refused', (t) => t.faults.refuseConnections(), 'CARRIER_CONNECT_FAILED'],
  ];

  it.each(faults)(
    '%s: sent once through Twilio, audited as a failed Telnyx attempt',
    async (_l, inject, code) => {
      const id = `a-${code.toLowerCase()}`;
      await h.telnyx.faults.clear();
      await inject(h.telnyx);
      await h.dispatch('acme', id, '+14155556001');
      await eventually(20_000, () =>
        expect(h.statusOf(id)).toEqual([expect.objectContaining({ status: 'queued', carrier: 'twilio' })]),
      );
      await h.telnyx.faults.clear();
      expect(h.telnyx.ledger.countForCallbackId(id)).toBe(0);
      expect(h.twilio.ledger.countForCallbackId(id)).toBe(1);
      expect(h.twilio.ledger.forCallbackId(id)[0]?.fields.Attempt).toBe('2'); // Twilio learns it is a retry
      await eventually(5_000, () =>
        expect(h.sendsOf(id).map((e) => [e.subprocessor, e.outcome, e.reason])).toEqual([
          ['telnyx', 'failed', code],
          ['twilio', 'performed', undefined],
        ]),
      );
    },
  );
});

// DPA §2/§7: the eu cell sends only through its own carriers' EU hosts, refuses anything homed
// elsewhere before a carrier sees it, and names the transfer mechanism when a carrier processes
// outside the home region.
describe('the eu cell (real Kafka and PostgreSQL)', () => {
  let h: DispatcherHarness;
  // As if Twilio moved IE1 processing to the US: the registry says so, and every attempt must show it.
  const registry = defineSubprocessorRegistry(
    SUBPROCESSORS.map((entry) =>
      entry.name === 'twilio'
        ? {
            ...entry,
            regions: {
              ...entry.regions,
              eu: { location: 'United States', country: 'US', host: 'api.dublin.ie1.twilio.com' },
            },
          }
        : entry,
    ),
  );
  beforeAll(async () => {
    h = await startDispatcherHarness({
      cell: 'eu',
      ingress: true, // receipts reach the dispatcher
      dispatcher: { breaker: { volumeThreshold: 10_000 }, rateLimits: false, subprocessors: registry },
    });
    await h.publishController('eu-acme', ['telnyx', 'twilio']);
    await h.publishController('us-acme', ['telnyx', 'twilio'], 'us'); // misconfigured: homed in us
    await h.publishController('eu-none', []);
    await h.publishController('eu-ended', ['telnyx', 'twilio'], 'eu', {
      terminatedAt: new Date().toISOString(),
    });
  });
  afterAll(() => h.close());

  it('an EU message goes through the cell’s Telnyx, in region: no transfer mechanism', async () => {
    await h.dispatch('eu-acme', 'eu-1', '+4915112345601');
    await eventually(20_000, () =>
      expect([...new Set(h.statusOf('eu-1').map((s) => s.carrier))]).toEqual(['telnyx']),
    );
    await eventually(5_000, () =>
      expect(h.sendsOf('eu-1')).toEqual([
        expect.objectContaining({ subprocessor: 'telnyx', region: 'eu', outcome: 'performed' }),
      ]),
    );
    expect(h.sendsOf('eu-1')[0]).not.toHaveProperty('transferMechanism');
  });

  it('a failover to a carrier processing outside the EU names the transfer mechanism', async () => {
    h.telnyx.faults.next({ status5xx: 503 });
    await h.dispatch('eu-acme', 'eu-2', '+4915112345602');
    await eventually(20_000, () =>
      expect([...new Set(h.statusOf('eu-2').map((s) => s.carrier))]).toEqual(['twilio']),
    );
    await eventually(5_000, () =>
      expect(h.sendsOf('eu-2').map((e) => [e.subprocessor, e.outcome, e.transferMechanism])).toEqual([
        ['telnyx', 'failed', undefined],
        ['twilio', 'performed', 'EU-US DPF; SCC 2021/914 module 3'],
      ]),
    );
    // What Twilio reports back about the message crosses the same border: its receipts say so too.
    await eventually(20_000, () =>
      expect(
        h
          .processingOf('eu-2')
          .filter((e) => e.operation === 'receipt')
          .map((e) => [e.subprocessor, e.reason, e.transferMechanism]),
      ).toEqual([
        ['twilio', 'reported sent', 'EU-US DPF; SCC 2021/914 module 3'],
        ['twilio', 'reported delivered', 'EU-US DPF; SCC 2021/914 module 3'],
      ]),
    );
  });

  it.each([
    ['a record tagged with the us region', 'eu-acme', 'us', 'SMS_WRONG_REGION'],
    ['a controller homed in us', 'us-acme', 'eu', 'SMS_WRONG_REGION'],
    ['an instruction that lists no carrier', 'eu-none', 'eu', 'DISPATCH_NO_AUTHORISED_CARRIER'],
    [
      'a terminated controller (routed before its termination)',
      'eu-ended',
      'eu',
      'SMS_CONTROLLER_TERMINATED',
    ],
  ] as const)(
    '%s is refused before any carrier sees it, and audited',
    async (_l, controller, region, code) => {
      const id = `refused-${controller}-${region}`;
      await h.dispatch(controller, id, '+4915112345603', region);
      await eventually(20_000, () =>
        expect(h.statusOf(id)).toEqual([expect.objectContaining({ status: 'failed', errorCode: code })]),
      );
      await eventually(5_000, () =>
        expect(h.sendsOf(id)).toEqual([expect.objectContaining({ outcome: 'denied', region: 'eu' })]),
      );
      expect(h.sendsOf(id)[0]).not.toHaveProperty('subprocessor');
      expect(h.telnyx.ledger.countForCallbackId(id) + h.twilio.ledger.countForCallbackId(id)).toBe(0);
    },
  );

  it('a controller still missing from the directory long after the message was accepted is refused (terminated)', async () => {
    await h.keyring.create(toControllerId('ghost')); // keys exist only on the producing side
    const record = (messageId: string, ageMs: number) =>
      dispatchFixture(h.keyring, {
        topic: h.topic('sms.dispatch.v1'),
        controllerId: 'ghost',
        messageId,
        to: '+4915112345604',
        region: 'eu',
        acceptedAt: new Date(Date.now() - ageMs),
      });
    await h.bus.producer().send([await record('ghost-old', 120_000)]);
    await eventually(20_000, () =>
      expect(h.statusOf('ghost-old')).toEqual([
        expect.objectContaining({ status: 'failed', errorCode: 'SMS_UNKNOWN_CONTROLLER' }),
      ]),
    );
  });
});

// DPA §6: a subprocessor whose notice period is still running receives nothing, even when the
// instruction lists it and the primary is down.
describe('a carrier that is only noticed, not yet effective (real Kafka and PostgreSQL)', () => {
  let h: DispatcherHarness;
  const registry = defineSubprocessorRegistry(
    SUBPROCESSORS.map((entry) =>
      entry.name === 'twilio' ? { ...entry, noticeDate: '2026-11-01', effectiveDate: '2099-01-01' } : entry,
    ),
  );
  beforeAll(async () => {
    h = await startDispatcherHarness({
      dispatcher: { breaker: { volumeThreshold: 10_000 }, rateLimits: false, subprocessors: registry },
    });
    await h.publishController('acme', ['telnyx', 'twilio']);
  });
  afterAll(() => h.close());

  it('is never failed over to: the message waits for Telnyx, then goes out once through it', async () => {
    h.telnyx.faults.always({ status5xx: 503 });
    await h.dispatch('acme', 'noticed-1', '+14155556101');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(h.statusOf('noticed-1')).toEqual([]);
    expect(h.twilio.ledger.countForCallbackId('noticed-1')).toBe(0);
    await h.telnyx.faults.clear();
    await eventually(30_000, () =>
      expect(h.statusOf('noticed-1')).toEqual([
        expect.objectContaining({ status: 'queued', carrier: 'telnyx' }),
      ]),
    );
    expect(h.twilio.ledger.countForCallbackId('noticed-1')).toBe(0);
    expect(h.sendsOf('noticed-1').map((e) => e.subprocessor)).not.toContain('twilio');
  });
});
