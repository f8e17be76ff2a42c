import { eventually } from '@massivesms/testkit';
import type { TelnyxSimulator, TwilioSimulator } from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from '../src/dispatcher.ts';
import { type DispatcherHarness, startDispatcherHarness } from './harness.ts';

describe('dispatcher (real Kafka and PostgreSQL, carrier simulators through the official SDKs)', () => {
  let h: DispatcherHarness;
  let telnyx: TelnyxSimulator;
  let twilio: TwilioSimulator;
  let dispatcher: Dispatcher;
  const dispatch = (controllerId: string, messageId: string, to?: string) =>
    h.dispatch(controllerId, messageId, to);
  const statusOf = (messageId: string) => h.statusOf(messageId);
  const sendsOf = (messageId: string) => h.sendsOf(messageId).map((e) => `${e.subprocessor}:${e.outcome}`);

  beforeAll(async () => {
    h = await startDispatcherHarness({
      partitions: 2,
      dispatcher: { breaker: { volumeThreshold: 5, resetTimeoutMs: 1_500 } },
    });
    ({ telnyx, twilio, dispatcher } = h);
    await h.publishController('acme', ['telnyx', 'twilio']);
    await h.publishController('solo', ['telnyx']);
  });
  afterAll(() => h.close());

  it('sends through Telnyx once, with our message id in the callback URL, and publishes `queued`', async () => {
    await dispatch('acme', 'ok-1');
    await eventually(20_000, () => expect(statusOf('ok-1').map((s) => s.status)).toEqual(['queued']));
    expect(telnyx.ledger.countForCallbackId('ok-1')).toBe(1);
    expect(statusOf('ok-1')[0]).toMatchObject({ carrier: 'telnyx', statusSeq: 2 });
    await eventually(5_000, () => expect(sendsOf('ok-1')).toEqual(['telnyx:performed']));
  });

  it('a redelivered dispatch record is never sent again (also twice in one batch)', async () => {
    await dispatch('acme', 'dup-1', '+14155552001');
    await dispatch('acme', 'dup-1', '+14155552001');
    await dispatch('acme', 'dup-1', '+14155552001');
    await dispatch('acme', 'after-dup', '+14155552001'); // same key: same partition, after both
    await eventually(20_000, () => expect(statusOf('after-dup')).toHaveLength(1));
    expect(telnyx.ledger.countForCallbackId('dup-1')).toBe(1);
    // A redelivery may publish the recorded status again (same statusSeq), never a second send.
    expect(new Set(statusOf('dup-1').map((s) => `${s.status}#${s.statusSeq}`))).toEqual(
      new Set(['queued#2']),
    );
  });

  it('a permanent error (invalid number) ends in `failed` and is never failed over', async () => {
    telnyx.faults.recipient('+14155552999', { error: 'invalidNumber' });
    await dispatch('acme', 'bad-1', '+14155552999');
    await eventually(20_000, () =>
      expect(statusOf('bad-1')).toEqual([
        expect.objectContaining({ status: 'failed', errorCode: 'CARRIER_INVALID_NUMBER' }),
      ]),
    );
    expect(twilio.ledger.countForCallbackId('bad-1')).toBe(0);
    telnyx.faults.recipient('+14155552999', null);
  });

  it('when Telnyx keeps returning 503, the breaker opens and the next message goes straight to Twilio', async () => {
    telnyx.faults.always({ status5xx: 503 });
    const storm: string[] = [];
    for (let i = 0; i < 20 && dispatcher.breakers.telnyx.state !== 'open'; i++) {
      storm.push(`storm-${i}`);
      await dispatch('acme', `storm-${i}`, `+141555530${String(i).padStart(2, '0')}`);
      await eventually(20_000, () => expect(statusOf(`storm-${i}`)).toHaveLength(1));
    }
    expect(dispatcher.breakers.telnyx.state).toBe('open');
    for (const id of storm) {
      expect(statusOf(id).map((s) => s.carrier)).toEqual(['twilio']); // failed over, once
      expect(twilio.ledger.countForCallbackId(id)).toBe(1);
      await eventually(5_000, () => expect(sendsOf(id)).toEqual(['telnyx:failed', 'twilio:performed']));
    }
    await dispatch('acme', 'after-open', '+14155553100');
    await eventually(20_000, () => expect(statusOf('after-open').map((s) => s.carrier)).toEqual(['twilio']));
    await eventually(5_000, () => expect(sendsOf('after-open')).toEqual(['twilio:performed'])); // Telnyx not called
    expect(telnyx.ledger.countForCallbackId('after-open')).toBe(0);
    expect(twilio.ledger.countForCallbackId('after-open')).toBe(1);
    // Telnyx recovers: after the reset timeout a real message probes half-open, succeeds, and closes it.
    telnyx.faults.clear();
    await eventually(10_000, () => expect(dispatcher.breakers.telnyx.state).toBe('half_open'));
    await dispatch('acme', 'probe', '+14155553101');
    await eventually(20_000, () => expect(statusOf('probe').map((s) => s.carrier)).toEqual(['telnyx']));
    expect(dispatcher.breakers.telnyx.state).toBe('closed');
  });

  it('a controller whose instruction lists only Telnyx waits while it is down, then sends once', async () => {
    telnyx.faults.always({ status5xx: 503 });
    // Whatever the breaker's state, a Telnyx failure with no failover allowed holds the partition.
    await dispatch('solo', 'held-1', '+14155553200');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(statusOf('held-1')).toEqual([]);
    expect(twilio.ledger.countForCallbackId('held-1')).toBe(0); // never to an unlisted subprocessor
    telnyx.faults.clear();
    await eventually(30_000, () => expect(statusOf('held-1').map((s) => s.status)).toEqual(['queued']));
    expect(telnyx.ledger.countForCallbackId('held-1')).toBe(1);
  });

  it('a hold in the middle of a batch strands nothing: every held message is sent once Telnyx is back', async () => {
    telnyx.faults.clear();
    telnyx.faults.always({ status5xx: 503 });
    const ids = Array.from({ length: 5 }, (_, i) => `held-batch-${i}`);
    // One recipient: one partition, in order, in one batch.
    // One produce request to one partition: the five arrive in one batch.
    await h.bus
      .producer()
      .send(await Promise.all(ids.map((id) => h.dispatchRecord('solo', id, '+14155553300'))));
    await new Promise((r) => setTimeout(r, 800));
    telnyx.faults.clear();
    await eventually(30_000, () => {
      for (const id of ids) expect(statusOf(id).map((s) => s.status)).toEqual(['queued']);
    });
    for (const id of ids) expect(telnyx.ledger.countForCallbackId(id)).toBe(1);
  });
});
