import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import type { Db } from '@massivesms/db';
import { eventually } from '@massivesms/testkit';
import {
  signTelnyxWebhook,
  type TelnyxSimulator,
  type TwilioSimulator,
  twilioSignature,
} from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from '../src/dispatcher.ts';
import { HELP_TEXT } from '../src/domain/keywords.ts';
import { type DispatcherHarness, startDispatcherHarness } from './harness.ts';

const SID = `AC${'2'.repeat(32)}`;

describe('carrier receipts (signed, deduplicated, monotonic)', () => {
  let h: DispatcherHarness;
  let db: Db;
  let telnyx: TelnyxSimulator;
  let twilio: TwilioSimulator;
  let dispatcher: Dispatcher;
  const keys = generateKeyPairSync('ed25519');
  const dispatch = (controllerId: string, messageId: string, to?: string) =>
    h.dispatch(controllerId, messageId, to);
  const statusOf = (messageId: string) => h.statusOf(messageId);
  /** Distinct `receipt` processing events of a message (a republished copy has the same id). */
  const receiptsOf = (messageId: string) => [
    ...new Map(
      h
        .processingOf(messageId)
        .filter((e) => e.operation === 'receipt')
        .map((e) => [e.eventId, e]),
    ).values(),
  ];
  /** Processing events of one operation that name no message (inbound keywords). */
  const inboundEvents = (operation: string) =>
    h.processingEvents().filter((e) => e.operation === operation && e.service === 'dispatcher');

  beforeAll(async () => {
    h = await startDispatcherHarness({
      telnyxKeys: keys,
      ingress: true,
      carrierTimeoutMs: 500,
    });
    ({ db, telnyx, twilio, dispatcher } = h);
    await h.publishController('acme', ['telnyx', 'twilio']);
    await h.publishController('tw', ['twilio']);
  });
  afterAll(() => h.close());

  it('Telnyx receipts take a message to `delivered`; duplicated receipts are applied once', async () => {
    telnyx.faults.receipts({ duplicateReceipts: true });
    await dispatch('acme', 'rcpt-1');
    await eventually(20_000, () => expect(statusOf('rcpt-1').at(-1)?.status).toBe('delivered'));
    await telnyx.settled();
    await new Promise((r) => setTimeout(r, 300));
    // The send response (queued) and the receipts (sent, delivered) are published by different
    // paths and may interleave on the topic: statusSeq is the order, and each status comes once.
    const bySeq = [...statusOf('rcpt-1')].sort((a, b) => a.statusSeq - b.statusSeq);
    expect(bySeq.map((s) => s.statusSeq)).toEqual([2, 3, 4]);
    expect(bySeq.map((s) => s.status).filter((s) => s !== 'queued')).toEqual(['sent', 'delivered']);
    expect(new Set(bySeq.map((s) => s.status)).size).toBe(bySeq.length);
    // Each receipt applied is one `receipt` processing event; the duplicates add none.
    await eventually(5_000, () => expect(receiptsOf('rcpt-1')).toHaveLength(2));
    expect(receiptsOf('rcpt-1').map((e) => e.reason)).toEqual(
      expect.arrayContaining(['reported sent', 'reported delivered']),
    );
    for (const e of receiptsOf('rcpt-1'))
      expect(e).toMatchObject({
        service: 'dispatcher',
        controllerId: 'acme',
        subprocessor: 'telnyx',
        outcome: 'performed',
        subjectPseudonym: expect.stringMatching(/^ps_/),
        purpose: expect.any(String),
      });
    telnyx.faults.receipts(null);
  });

  it('an out-of-order receipt never moves a message back (finalized before sent)', async () => {
    telnyx.faults.receipts({ outOfOrderReceipts: true });
    await dispatch('acme', 'rcpt-2', '+14155552002');
    await eventually(20_000, () => expect(statusOf('rcpt-2').at(-1)?.status).toBe('delivered'));
    await telnyx.settled();
    await new Promise((r) => setTimeout(r, 300));
    const bySeq = [...statusOf('rcpt-2')].sort((a, b) => a.statusSeq - b.statusSeq).map((s) => s.status);
    expect(bySeq.at(-1)).toBe('delivered');
    expect(bySeq).not.toContain('sent'); // the late `sent` was ignored: delivered is terminal
    telnyx.faults.receipts(null);
  });

  it('Twilio status callbacks (HMAC-SHA1 over the public URL) take a message to `delivered`', async () => {
    await dispatch('tw', 'rcpt-3', '+14155552003');
    await eventually(20_000, () => {
      const bySeq = [...statusOf('rcpt-3')].sort((a, b) => a.statusSeq - b.statusSeq).map((s) => s.status);
      expect(bySeq.filter((s) => s !== 'queued')).toEqual(['sent', 'delivered']);
    });
    expect(statusOf('rcpt-3').every((s) => s.carrier === 'twilio')).toBe(true);
  });

  it('an ambiguous send (response timeout after accept) goes `unknown`, then the receipt carrying our message id reconciles it', async () => {
    telnyx.faults.next({ timeoutAfterAccept: true });
    telnyx.faults.receipts({ delayMs: 1_500 }); // the receipts come after our 500 ms timeout
    await dispatch('acme', 'rcpt-4', '+14155552004');
    await eventually(20_000, () =>
      expect(statusOf('rcpt-4').map((s) => s.status)).toEqual(['unknown', 'sent', 'delivered']),
    );
    expect(telnyx.ledger.countForCallbackId('rcpt-4')).toBe(1); // reconciled, never resent
    const carrierId = telnyx.ledger.forCallbackId('rcpt-4')[0]!.carrierMessageId;
    expect(statusOf('rcpt-4').at(-1)?.carrierMessageId).toBe(carrierId);
    telnyx.faults.receipts(null);
  });

  it('a receipt that arrives before the send response is applied, and the late response changes nothing', async () => {
    telnyx.faults.next({ latencyMs: 300 }); // accepted and receipts sent at once; the response 300 ms later
    await dispatch('acme', 'rcpt-6', '+14155552006');
    await eventually(20_000, () => expect(statusOf('rcpt-6').at(-1)?.status).toBe('delivered'));
    await new Promise((r) => setTimeout(r, 600));
    const seen = statusOf('rcpt-6').map((s) => s.status);
    expect(seen.at(-1)).toBe('delivered');
    expect(seen.filter((s) => s === 'delivered')).toHaveLength(1);
    expect(telnyx.ledger.countForCallbackId('rcpt-6')).toBe(1);
  });

  it('refuses tampered, wrong-key, stale and unsigned Telnyx receipts with 403 and changes nothing', async () => {
    await dispatch('acme', 'rcpt-5', '+14155552005');
    await eventually(20_000, () => expect(statusOf('rcpt-5').at(-1)?.status).toBe('delivered'));
    const carrierMessageId = telnyx.ledger.forCallbackId('rcpt-5')[0]!.carrierMessageId;
    const url = `${dispatcher.ingressUrl}/receipts/telnyx/acme/rcpt-5`;
    const body = JSON.stringify({
      data: {
        event_type: 'message.finalized',
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        record_type: 'event',
        payload: {
          id: carrierMessageId,
          to: [{ phone_number: '+14155552005', status: 'delivery_failed' }],
          errors: [],
        },
      },
      meta: { attempt: 1, delivered_to: url },
    });
    const now = String(Math.floor(Date.now() / 1000));
    const post = (payload: string, headers: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
      });
    const signed = (key: KeyObject, ts: string, payload = body) => ({
      'telnyx-signature-ed25519': signTelnyxWebhook(key, payload, ts),
      'telnyx-timestamp': ts,
    });
    const before = statusOf('rcpt-5').length;
    const otherKey = generateKeyPairSync('ed25519').privateKey;
    expect(
      (await post(body.replace('delivery_failed', 'delivered'), signed(keys.privateKey, now))).status,
    ).toBe(403);
    expect((await post(body, signed(otherKey, now))).status).toBe(403);
    const stale = String(Math.floor(Date.now() / 1000) - 3_600);
    expect((await post(body, signed(keys.privateKey, stale))).status).toBe(403);
    expect((await post(body, {})).status).toBe(403);
    // A correctly signed but late receipt is accepted and changes nothing: delivered is terminal.
    expect((await post(body, signed(keys.privateKey, now))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(statusOf('rcpt-5')).toHaveLength(before);
    expect(statusOf('rcpt-5').at(-1)?.status).toBe('delivered');
  });

  it('refuses a Twilio callback signed with another auth token', async () => {
    const url = `${dispatcher.ingressUrl}/receipts/twilio/tw/rcpt-3`;
    const params = { MessageSid: 'SMx', MessageStatus: 'failed', ErrorCode: '30003' };
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature('other-token', url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(res.status).toBe(403);
  });

  it('STOP at Telnyx suppresses the recipient for the controller that messaged them, also on Twilio; START lifts it', async () => {
    const subscriber = '+14155554000';
    await dispatch('acme', 'before-stop', subscriber);
    await eventually(45_000, () => expect(statusOf('before-stop').length).toBeGreaterThan(0));
    const delivered = await telnyx.sendInbound({
      to: '+14155550100',
      from: subscriber,
      text: ' stop ',
      url: `${dispatcher.ingressUrl}/inbound/telnyx`,
    });
    expect(delivered.attempts.at(-1)?.status).toBe(200);
    await eventually(20_000, async () => {
      const { rows } = await db.query('SELECT active FROM dispatcher_suppressions WHERE controller_id = $1', [
        'acme',
      ]);
      expect(rows).toEqual([{ active: true }]);
    });
    await dispatch('acme', 'after-stop', subscriber);
    await eventually(20_000, () =>
      expect(statusOf('after-stop')).toEqual([
        expect.objectContaining({ status: 'suppressed', errorCode: 'SMS_SUPPRESSED_OPT_OUT' }),
      ]),
    );
    expect(
      telnyx.ledger.countForCallbackId('after-stop') + twilio.ledger.countForCallbackId('after-stop'),
    ).toBe(0);

    await twilio.sendInbound({
      to: '+14155550100',
      from: subscriber,
      text: 'START',
      url: `${dispatcher.ingressUrl}/inbound/twilio`,
    });
    await eventually(20_000, async () => {
      const { rows } = await db.query('SELECT active FROM dispatcher_suppressions WHERE controller_id = $1', [
        'acme',
      ]);
      expect(rows).toEqual([{ active: false }]);
    });
    await dispatch('acme', 'after-start', subscriber);
    await eventually(20_000, () => expect(statusOf('after-start').map((s) => s.status)).toContain('queued'));
    // Each keyword is one processing event for acme, naming the subject by pseudonym and the carrier.
    const pseudonym = h.sendsOf('before-stop')[0]!.subjectPseudonym;
    await eventually(5_000, () => expect(inboundEvents('inbound.opt_in')).toHaveLength(1));
    expect(inboundEvents('inbound.opt_out')).toEqual([
      expect.objectContaining({ controllerId: 'acme', subjectPseudonym: pseudonym, subprocessor: 'telnyx' }),
    ]);
    expect(inboundEvents('inbound.opt_in')).toEqual([
      expect.objectContaining({ controllerId: 'acme', subjectPseudonym: pseudonym, subprocessor: 'twilio' }),
    ]);
  });

  it('an inbound webhook the carrier sends again is the same processing event (its id comes from the carrier message id)', async () => {
    const subscriber = '+14155554300';
    await dispatch('acme', 'before-retried-stop', subscriber);
    await eventually(45_000, () => expect(statusOf('before-retried-stop').length).toBeGreaterThan(0));
    const url = `${dispatcher.ingressUrl}/inbound/twilio`;
    const post = (params: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilioSignature('tok', url, params),
        },
        body: new URLSearchParams(params).toString(),
      });
    const stop = {
      MessageSid: 'SMretried',
      From: subscriber,
      To: '+14155550100',
      Body: 'STOP',
      AccountSid: SID,
    };
    expect((await post(stop)).status).toBe(200);
    expect((await post(stop)).status).toBe(200); // the carrier did not see our 200 and retries
    const { MessageSid: _, ...withoutId } = stop;
    expect((await post(withoutId)).status).toBe(400); // nothing to derive the audit event's id from
    const pseudonym = h.sendsOf('before-retried-stop')[0]!.subjectPseudonym;
    const ofSubscriber = (operation: string) =>
      inboundEvents(operation).filter((e) => e.subjectPseudonym === pseudonym);
    await eventually(5_000, () => expect(ofSubscriber('inbound.opt_out')).toHaveLength(2));
    expect(new Set(ofSubscriber('inbound.opt_out').map((e) => e.eventId)).size).toBe(1);
    // HELP changes nothing but is answered through the carrier: audited for the controller too.
    await telnyx.sendInbound({
      to: '+14155550100',
      from: subscriber,
      text: 'HELP',
      url: `${dispatcher.ingressUrl}/inbound/telnyx`,
    });
    await eventually(5_000, () =>
      expect(ofSubscriber('inbound.help')).toEqual([
        expect.objectContaining({ controllerId: 'acme', subprocessor: 'telnyx', outcome: 'performed' }),
      ]),
    );
  });

  it("a carrier's opt-out (a refused send, a receipt's code) suppresses the recipient and is audited as `carrier.opt_out`", async () => {
    telnyx.faults.recipient('+14155554400', { error: 'optedOut' });
    twilio.faults.recipient('+14155554401', {
      receipts: { failDelivery: { code: 21610, status: 'failed' } },
    });
    await dispatch('acme', 'opted-out-send', '+14155554400');
    await dispatch('tw', 'opted-out-receipt', '+14155554401');
    const optOuts = (messageId: string) =>
      h.processingOf(messageId).filter((e) => e.operation === 'carrier.opt_out');
    await eventually(20_000, () => {
      expect(optOuts('opted-out-send')).toEqual([
        expect.objectContaining({ subprocessor: 'telnyx', reason: 'suppressed: opt_out (telnyx.send)' }),
      ]);
      expect(optOuts('opted-out-receipt')).toEqual([
        expect.objectContaining({ subprocessor: 'twilio', reason: 'suppressed: opt_out (twilio.receipt)' }),
      ]);
    });
    expect(receiptsOf('opted-out-receipt').map((e) => e.reason)).toContain(
      'reported failed (CARRIER_OPTED_OUT)',
    );
    telnyx.faults.recipient('+14155554400', null);
    twilio.faults.recipient('+14155554401', null);
  });

  it('HELP at Twilio is answered with a TwiML reply', async () => {
    const url = `${dispatcher.ingressUrl}/inbound/twilio`;
    const params = {
      MessageSid: 'SMhelp',
      From: '+14155554100',
      To: '+14155550100',
      Body: 'HELP',
      AccountSid: SID,
    };
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSignature('tok', url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(
      /^<Response><Message>MassiveSMS sends these messages .*Reply STOP to opt out\.<\/Message><\/Response>$/,
    );
  });

  it('HELP at Telnyx is answered with an outbound message from the number that was texted', async () => {
    const subscriber = '+14155554200';
    const delivered = await telnyx.sendInbound({
      to: '+14155550100',
      from: subscriber,
      text: 'help',
      url: `${dispatcher.ingressUrl}/inbound/telnyx`,
    });
    expect(delivered.attempts.at(-1)?.status).toBe(200);
    await eventually(10_000, () =>
      expect(telnyx.ledger.entries.filter((e) => e.to === subscriber)).toEqual([
        expect.objectContaining({ from: '+14155550100', text: HELP_TEXT, callbackUrl: undefined }),
      ]),
    );
  });
});
