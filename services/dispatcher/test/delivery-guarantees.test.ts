import { statusEventSchema } from '@massivesms/contracts';
import type { KafkaBus } from '@massivesms/kafka';
import type { MessageBus } from '@massivesms/messaging';
import { eventually } from '@massivesms/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcilePolicy } from '../src/dispatcher.ts';
import { type DispatcherHarness, startDispatcherHarness } from './harness.ts';

// Regression tests for the paths of issue 10 that lost a status or sent what must not be sent
// (real Kafka and PostgreSQL, the carriers through their official SDKs against the simulators).

/** The bus with a producer that refuses every send while `refusing()` says so, as a broker that is down. */
function refusingProducer(bus: KafkaBus, refusing: () => boolean): MessageBus {
  return new Proxy(bus, {
    get(target, property) {
      if (property === 'producer') {
        const real = target.producer();
        return () => ({
          send: (records: Parameters<typeof real.send>[0]) =>
            refusing()
              ? Promise.reject(new Error('the broker refuses produces (planted)'))
              : real.send(records),
        });
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as MessageBus;
}

describe('delivery guarantees of the dispatcher', () => {
  let h: DispatcherHarness;
  let refusing = false;
  const registry = new Registry();
  const statuses = (messageId: string) => h.statusOf(messageId).map((s) => s.status);

  beforeAll(async () => {
    h = await startDispatcherHarness({
      ingress: true,
      wrapBus: (bus) => refusingProducer(bus, () => refusing),
      dispatcher: {
        registry,
        rateLimits: false,
        breaker: { resetTimeoutMs: 1_000 },
        // Final receipts are expected within 1.5 s here; sends stay `sending` long enough for the tests.
        reconcile: reconcilePolicy({
          sendingTimeoutMs: 60_000,
          quarantineMs: 3_600_000,
          receiptDeadlineMs: 1_500,
          finaliseAfterMs: 3_600_000,
        }),
      },
    });
    await h.publishController('acme', ['telnyx', 'twilio']);
    await h.publishController('solo', ['telnyx']);
  });
  afterAll(() => h.close());

  it('statuses stored while the broker refuses produces are published, in order, once it takes them again', async () => {
    refusing = true;
    await h.dispatch('acme', 'refused-1', '+14155553001');
    // The send and both receipts are applied and stored while nothing can be published.
    await eventually(20_000, async () => {
      const { rows } = await h.db.query<{ status: string }>(
        `SELECT status FROM dispatcher_messages WHERE message_id = 'refused-1'`,
      );
      expect(rows[0]?.status).toBe('delivered');
    });
    expect(statuses('refused-1')).toEqual([]);
    refusing = false;
    await eventually(20_000, () => expect(statuses('refused-1')).toEqual(['queued', 'sent', 'delivered']));
    expect(h.telnyx.ledger.countForCallbackId('refused-1')).toBe(1);
    await eventually(5_000, () =>
      expect(h.sendsOf('refused-1').map((e) => `${e.subprocessor}:${e.outcome}`)).toEqual([
        'telnyx:performed',
      ]),
    );
  });

  it('when one message of a chunk cannot store its outcome, the others still announce theirs, its receipts record its attempt, and nothing is sent twice', async () => {
    // A planted, row-level fault: storing `poison-1`'s outcome fails (SQLSTATE 22000).
    await h.db.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.message_id = 'poison-1' AND NEW.status <> OLD.status THEN
          RAISE EXCEPTION 'planted fault' USING ERRCODE = '22000';
        END IF;
        RETURN NEW;
      END $$`);
    await h.db.query(
      'CREATE TRIGGER refuse_poison BEFORE UPDATE ON dispatcher_messages FOR EACH ROW EXECUTE FUNCTION refuse_poison()',
    );
    try {
      // The poisoned send is answered at once, the others slowly: the failure comes while they are in flight.
      h.telnyx.faults.configure({ next: [{}, ...Array.from({ length: 4 }, () => ({ latencyMs: 600 }))] });
      const others = ['chunk-1', 'chunk-2', 'chunk-3', 'chunk-4'];
      await h.bus
        .producer()
        .send([
          await h.dispatchRecord('acme', 'poison-1', '+14155553100'),
          ...(await Promise.all(others.map((m, i) => h.dispatchRecord('acme', m, `+1415555311${i}`)))),
        ]);
      for (const m of others) await eventually(20_000, () => expect(statuses(m)[0]).toBe('queued'));
      for (const m of ['poison-1', ...others]) expect(h.telnyx.ledger.countForCallbackId(m)).toBe(1);
    } finally {
      await h.db.query('DROP TRIGGER refuse_poison ON dispatcher_messages');
      await h.db.query('DROP FUNCTION refuse_poison()');
    }
    // Telnyx has `poison-1` but its answer was never stored: its receipts close it, and record the
    // attempt (one `send` event naming Telnyx) that the failed statement could not.
    await eventually(20_000, () => expect(statuses('poison-1')).toContain('delivered'));
    await eventually(5_000, () =>
      expect(h.sendsOf('poison-1').map((e) => `${e.subprocessor}:${e.outcome}`)).toEqual([
        'telnyx:performed',
      ]),
    );
    expect(h.telnyx.ledger.countForCallbackId('poison-1')).toBe(1);
  });

  it('a message whose validity ended before it reached the dispatcher expires and is never sent', async () => {
    await h.dispatch('acme', 'late-1', '+14155553200', undefined, {
      validUntil: new Date(Date.now() - 1_000),
    });
    await eventually(20_000, () =>
      expect(h.statusOf('late-1')).toEqual([
        expect.objectContaining({ status: 'expired', errorCode: 'SMS_EXPIRED' }),
      ]),
    );
    expect(h.telnyx.ledger.countForCallbackId('late-1')).toBe(0);
    expect(h.twilio.ledger.countForCallbackId('late-1')).toBe(0);
  });

  it('a message that expires while its partition waits behind an open breaker is never sent', async () => {
    // `solo` allows Telnyx only: with Telnyx down, its messages wait (no failover).
    h.telnyx.faults.configure({ always: { status5xx: 503 } });
    try {
      // One batch: its sends fail together and open the breaker at once.
      await h.bus
        .producer()
        .send(
          await Promise.all(
            Array.from({ length: 6 }, (_, i) => h.dispatchRecord('solo', `trip-${i}`, `+1415555330${i}`)),
          ),
        );
      await eventually(20_000, () => expect(h.dispatcher.breakers.telnyx.state).toBe('open'));
      await h.dispatch('solo', 'waits-1', '+14155553400', undefined, {
        validUntil: new Date(Date.now() + 2_000),
      });
      await new Promise((r) => setTimeout(r, 2_500)); // its validity ends while it waits for Telnyx
    } finally {
      h.telnyx.faults.configure({ always: null });
    }
    await eventually(30_000, () =>
      expect(h.statusOf('waits-1')).toEqual([expect.objectContaining({ status: 'expired' })]),
    );
    expect(h.telnyx.ledger.countForCallbackId('waits-1')).toBe(0);
  });

  it('a carrier outage parks only the messages that cannot fail over (for a bounded time): the others on their partition fail over at once', async () => {
    h.telnyx.faults.configure({ always: { status5xx: 503 } });
    const solo = ['outage-solo-1', 'outage-solo-2', 'outage-solo-3', 'outage-solo-4'];
    const acme = ['outage-acme-1', 'outage-acme-2', 'outage-acme-3'];
    try {
      // Telnyx-only messages open the breaker; then, on the same (single) partition, one more of
      // them ahead of messages whose instruction allows Twilio.
      await h.bus
        .producer()
        .send(
          await Promise.all(solo.slice(0, 3).map((m, i) => h.dispatchRecord('solo', m, `+1415555380${i}`))),
        );
      await eventually(20_000, () => expect(h.dispatcher.breakers.telnyx.state).toBe('open'));
      await h.bus.producer().send([
        await h.dispatchRecord('solo', solo[3]!, '+14155553803'),
        ...(await Promise.all(acme.map((m, i) => h.dispatchRecord('acme', m, `+1415555381${i}`)))),
        // Accepted a day ago: its wait for a carrier is over (DISPATCHER_MAX_CARRIER_WAIT_MS, 24 h).
        await h.dispatchRecord('solo', 'outage-solo-stale', '+14155553804', undefined, {
          acceptedAt: new Date(Date.now() - 25 * 3_600_000),
        }),
      ]);
      for (const m of acme) await eventually(20_000, () => expect(statuses(m)[0]).toBe('queued'));
      await eventually(20_000, () =>
        expect(h.statusOf('outage-solo-stale')).toEqual([
          expect.objectContaining({ status: 'failed', errorCode: 'DISPATCH_CARRIER_UNAVAILABLE' }),
        ]),
      );
      for (const m of acme) expect(h.twilio.ledger.countForCallbackId(m)).toBe(1);
      for (const m of solo) expect(statuses(m)).toEqual([]);
      const { rows } = await h.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM dispatcher_scheduled WHERE message_id LIKE 'outage-solo-%'`,
      );
      expect(rows[0]!.n).toBe(solo.length);
      // What an SRE sees meanwhile: messages parked waiting for a carrier.
      const parked = await registry.getSingleMetric('dispatcher_parked_messages')!.get();
      expect(parked.values.find((v) => v.labels.reason === 'carrier')?.value).toBeGreaterThanOrEqual(
        solo.length,
      );
    } finally {
      h.telnyx.faults.configure({ always: null });
    }
    // Telnyx is back: each parked message goes out through it, once.
    for (const m of solo) await eventually(30_000, () => expect(statuses(m)[0]).toBe('queued'));
    for (const m of solo) {
      expect(h.telnyx.ledger.countForCallbackId(m)).toBe(1);
      expect(h.twilio.ledger.countForCallbackId(m)).toBe(0);
    }
    expect(h.telnyx.ledger.countForCallbackId('outage-solo-stale')).toBe(0);
    expect(statuses('outage-solo-stale')).toEqual(['failed']);
    await eventually(10_000, async () => {
      const { rows } = await h.db.query('SELECT 1 FROM dispatcher_scheduled');
      expect(rows).toEqual([]);
    });
  });

  it('a record whose body cannot be decrypted is refused before any claim or carrier call', async () => {
    await h.dispatch('acme', 'sealed-1', '+14155553500', undefined, { undecryptable: true });
    await eventually(20_000, () =>
      expect(h.statusOf('sealed-1')).toEqual([
        expect.objectContaining({ status: 'failed', errorCode: 'DISPATCH_UNDECRYPTABLE' }),
      ]),
    );
    const { rows } = await h.db.query(`SELECT 1 FROM dispatcher_messages WHERE message_id = 'sealed-1'`);
    expect(rows).toEqual([]);
    // Its audit event names no subprocessor: no carrier ever received it.
    await eventually(5_000, () =>
      expect(h.sendsOf('sealed-1')).toEqual([expect.objectContaining({ outcome: 'denied' })]),
    );
    expect(h.sendsOf('sealed-1')[0]!.subprocessor).toBeUndefined();
    expect(statusEventSchema.safeParse(h.statusOf('sealed-1')[0]).success).toBe(true);
  });

  it.each([
    ['acme', 'telnyx'],
    ['twilio-only', 'twilio'],
  ] as const)(
    'a message whose receipts are lost is asked about at %s’s carrier (%s) through its SDK and finalised',
    async (controller, carrier) => {
      if (controller === 'twilio-only') await h.publishController('twilio-only', ['twilio']);
      const to = carrier === 'telnyx' ? '+14155553600' : '+14155553601';
      h[carrier].faults.recipient(to, { receipts: { drop: true } });
      const messageId = `lost-receipts-${carrier}`;
      await h.dispatch(controller, messageId, to);
      await eventually(30_000, () => expect(statuses(messageId)).toEqual(['queued', 'delivered']));
      expect(h[carrier].ledger.countForCallbackId(messageId)).toBe(1);
      await eventually(5_000, () =>
        expect(
          h
            .processingOf(messageId)
            .filter((e) => e.operation === 'send.lookup')
            .map((e) => `${e.subprocessor}:${e.outcome}`),
        ).toEqual([`${carrier}:performed`]),
      );
    },
  );

  it('a message held for quiet hours goes out once when its window opens, without holding back the messages behind it', async () => {
    const opens = new Date(Date.now() + 2_500);
    await h.dispatch('acme', 'quiet-1', '+14155553700', undefined, { sendAfter: opens });
    await h.dispatch('acme', 'behind-quiet-1', '+14155553700'); // same recipient: same partition, after it
    await eventually(20_000, () => expect(statuses('behind-quiet-1')).toContain('queued'));
    expect(h.telnyx.ledger.countForCallbackId('quiet-1')).toBe(0);
    await eventually(20_000, () => expect(statuses('quiet-1')).toContain('queued'));
    expect(Date.now()).toBeGreaterThanOrEqual(opens.getTime());
    expect(h.telnyx.ledger.countForCallbackId('quiet-1')).toBe(1);
    const { rows } = await h.db.query('SELECT 1 FROM dispatcher_scheduled');
    expect(rows).toEqual([]);
  });
});
