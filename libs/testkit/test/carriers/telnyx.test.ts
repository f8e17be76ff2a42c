import { generateKeyPairSync } from 'node:crypto';
import Telnyx, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  RateLimitError,
} from 'telnyx';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  startTelnyxSimulator,
  type TelnyxSimulator,
  telnyxPublicKeyBase64,
} from '../../src/carriers/index.ts';
import { eventually } from '../../src/eventually.ts';
import { type Receiver, startReceiver } from './receiver.ts';

const apiKey = 'KEY0123456789ABCDEF_simulated';
const FROM = '+15550000001';
const TO = '+15551230001';

interface TelnyxEnvelope {
  data: {
    event_type: string;
    id: string;
    occurred_at: string;
    record_type: string;
    payload: {
      id: string;
      direction: string;
      text: string;
      parts: number;
      to: { phone_number: string; status: string }[];
      from: { phone_number: string };
      errors: { code: string; title: string }[];
    };
  };
  meta: { attempt: number; delivered_to: string };
}

let sim: TelnyxSimulator;
let receiver: Receiver;
let client: Telnyx;

function callback(messageId: string): string {
  return `${receiver.origin}/receipts/telnyx/${messageId}`;
}

function envelopes(prefix: string): TelnyxEnvelope[] {
  return receiver.at(prefix).map((r) => JSON.parse(r.rawBody) as TelnyxEnvelope);
}

async function send(messageId: string, overrides: { to?: string; text?: string } = {}, c: Telnyx = client) {
  return c.messages.send({
    to: overrides.to ?? TO,
    from: FROM,
    text: overrides.text ?? 'Your code is 1234',
    type: 'SMS',
    webhook_url: callback(messageId),
  });
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

beforeAll(async () => {
  sim = await startTelnyxSimulator({ apiKey, webhookRetryDelayMs: 10 });
  receiver = await startReceiver();
  client = new Telnyx({ apiKey, baseURL: sim.baseUrl, maxRetries: 0, timeout: 2000 });
});

afterEach(async () => {
  await sim.settled();
  await sim.faults.clear();
  receiver.script();
});

afterAll(async () => {
  await sim.close();
  await receiver.close();
});

describe('Telnyx simulator: sending through the official SDK', () => {
  it('accepts a send and answers with the message id and the v2 message shape', async () => {
    const res = await send('m-send-1');
    const data = res.data!;
    expect(data.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.record_type).toBe('message');
    expect(data.direction).toBe('outbound');
    expect(data.to?.[0]).toMatchObject({ phone_number: TO, status: 'queued' });
    expect(data.from?.phone_number).toBe(FROM);
    expect(data).toMatchObject({
      parts: 1,
      encoding: 'GSM-7',
      errors: [],
      webhook_url: callback('m-send-1'),
    });
    expect(data.cost).toEqual({ amount: expect.any(String), currency: 'USD' });
    expect(sim.ledger.countForCallbackId('m-send-1')).toBe(1);
    expect(sim.ledger.find((e) => e.carrierMessageId === data.id)).toMatchObject({
      carrier: 'telnyx',
      to: TO,
      from: FROM,
      response: 'answered',
    });
  });

  it('counts parts and encoding as the carrier bills them', async () => {
    const res = await send('m-parts', { text: `${'a'.repeat(160)}€` });
    expect(res.data).toMatchObject({ parts: 2, encoding: 'GSM-7' });
    const ucs = await send('m-ucs', { text: 'Grüße 👋' });
    expect(ucs.data).toMatchObject({ parts: 1, encoding: 'UCS-2' });
  });

  it('rejects a wrong API key with 401 and Telnyx error 10009, accepting nothing', async () => {
    const wrong = new Telnyx({ apiKey: 'nope', baseURL: sim.baseUrl, maxRetries: 0, timeout: 2000 });
    const error = await rejectionOf(send('m-auth', {}, wrong));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as APIError).status).toBe(401);
    expect((error as APIError).error).toMatchObject({
      errors: [{ code: '10009', title: 'Authentication failed' }],
    });
    expect(sim.ledger.countForCallbackId('m-auth')).toBe(0);
  });

  it('surfaces a 5xx fault as APIError 500 carrying Telnyx code 10007', async () => {
    sim.faults.next({ status5xx: 500 });
    const error = await rejectionOf(send('m-5xx'));
    expect(error).toBeInstanceOf(APIError);
    expect(error).toBeInstanceOf(InternalServerError);
    expect((error as APIError).status).toBe(500);
    expect((error as APIError).error).toMatchObject({ errors: [{ code: '10007' }] });
    expect(sim.ledger.countForCallbackId('m-5xx')).toBe(0);
    // One-shot: the next send goes through.
    await expect(send('m-5xx')).resolves.toMatchObject({ data: { to: [{ status: 'queued' }] } });
  });

  it('answers a 502 without a carrier body when asked to play a proxy', async () => {
    sim.faults.next({ status5xx: { status: 502, carrierBody: false } });
    const error = (await rejectionOf(send('m-502'))) as APIError;
    expect(error.status).toBe(502);
    expect(JSON.stringify(error.error ?? null)).not.toContain('10007');
  });

  it('surfaces a rate-limit fault as 429 with Telnyx 10011 and x-ratelimit headers', async () => {
    sim.faults.next({ rateLimit: { retryAfterSeconds: 7 } });
    const error = (await rejectionOf(send('m-429'))) as APIError;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.error).toMatchObject({ errors: [{ code: '10011' }] });
    expect(error.headers?.get('x-ratelimit-limit')).toBe('50');
    expect(error.headers?.get('x-ratelimit-remaining')).toBe('0');
    expect(error.headers?.get('x-ratelimit-reset')).toBe('7');
  });

  it('surfaces timeout-after-accept as APIConnectionTimeoutError while the ledger and receipts show it was accepted', async () => {
    sim.faults.next({ timeoutAfterAccept: true });
    const quick = new Telnyx({ apiKey, baseURL: sim.baseUrl, maxRetries: 0, timeout: 300 });
    const error = await rejectionOf(send('m-timeout', {}, quick));
    expect(error).toBeInstanceOf(APIConnectionTimeoutError);
    expect(sim.ledger.countForCallbackId('m-timeout')).toBe(1);
    expect(sim.ledger.forCallbackId('m-timeout')[0]?.response).toBe('withheld');
    // The receipt carries the carrier id we never got, and our id in the URL: reconciliation material.
    const [sent] = await receiver.waitFor('/receipts/telnyx/m-timeout', 2);
    const carrierId = sim.ledger.forCallbackId('m-timeout')[0]?.carrierMessageId;
    expect((JSON.parse(sent!.rawBody) as TelnyxEnvelope).data.payload.id).toBe(carrierId);
  });

  it('processes a slow request even when the client gave up (latency beyond the client timeout)', async () => {
    sim.faults.next({ latencyMs: 400 });
    const quick = new Telnyx({ apiKey, baseURL: sim.baseUrl, maxRetries: 0, timeout: 150 });
    expect(await rejectionOf(send('m-slow', {}, quick))).toBeInstanceOf(APIConnectionTimeoutError);
    await eventually(2_000, () => expect(sim.ledger.countForCallbackId('m-slow')).toBe(1));
  });

  it('applies a persistent fault to every request until cleared', async () => {
    sim.faults.always({ status5xx: 503 });
    for (let i = 0; i < 3; i++) expect(((await rejectionOf(send('m-always'))) as APIError).status).toBe(503);
    await sim.faults.clear();
    await expect(send('m-always')).resolves.toBeDefined();
    expect(sim.ledger.countForCallbackId('m-always')).toBe(1);
  });

  it('applies queued one-shot faults in order before the persistent one', async () => {
    sim.faults.always({ status5xx: 503 }).next({ rateLimit: true }, { status5xx: 500 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(((await rejectionOf(send('m-order'))) as APIError).status);
    expect(statuses).toEqual([429, 500, 503]);
  });

  it('refuses connections (ECONNREFUSED, nothing sent) until connections are accepted again', async () => {
    await sim.faults.refuseConnections();
    const error = await rejectionOf(send('m-refused'));
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error).not.toBeInstanceOf(APIConnectionTimeoutError);
    expect(JSON.stringify(causeChain(error))).toContain('ECONNREFUSED');
    await sim.faults.acceptConnections();
    await expect(send('m-refused')).resolves.toBeDefined();
    expect(sim.ledger.countForCallbackId('m-refused')).toBe(1);
  });

  it('resets the connection after reading the request: before accepting, or after accepting', async () => {
    sim.faults.next({ reset: true }, { reset: { afterAccept: true } });
    expect(await rejectionOf(send('m-reset-before'))).toBeInstanceOf(APIConnectionError);
    expect(await rejectionOf(send('m-reset-after'))).toBeInstanceOf(APIConnectionError);
    expect(sim.ledger.countForCallbackId('m-reset-before')).toBe(0);
    expect(sim.ledger.forCallbackId('m-reset-after').map((e) => e.response)).toEqual(['reset']);
  });

  it.each([
    ['invalidNumber', '10002'],
    ['optedOut', '40300'],
    ['contentRejected', '40003'],
  ] as const)('rejects a %s recipient with 400 and Telnyx code %s, accepting nothing', async (kind, code) => {
    const to = '+15551239999';
    sim.faults.recipient(to, { error: kind });
    const error = (await rejectionOf(send(`m-${kind}`, { to }))) as APIError;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.error).toMatchObject({ errors: [{ code, source: { pointer: '/to' } }] });
    expect(sim.ledger.countForCallbackId(`m-${kind}`)).toBe(0);
    // Other recipients are unaffected.
    await expect(send(`m-${kind}-other`)).resolves.toBeDefined();
  });

  it('rejects a number that is not E.164 with 10016', async () => {
    const error = (await rejectionOf(send('m-e164', { to: '555123456789' }))) as APIError;
    expect(error.status).toBe(400);
    expect(error.error).toMatchObject({ errors: [{ code: '10016' }] });
  });

  it('serves the message with its latest status at GET /v2/messages/{id}', async () => {
    const { data } = await send('m-get');
    await sim.settled();
    const fetched = await client.messages.retrieve(data!.id!);
    expect(fetched.data?.id).toBe(data!.id);
    expect(fetched.data).toMatchObject({ to: [{ status: 'delivered' }] });
  });
});

describe('Telnyx simulator: signed webhooks', () => {
  it('posts message.sent then message.finalized, verifiable with webhooks.unwrap and the public key', async () => {
    const { data } = await send('m-receipts');
    const received = await receiver.waitFor('/receipts/telnyx/m-receipts', 2);
    for (const r of received) {
      const event = (await client.webhooks.unwrap(r.rawBody, { headers: r.headers, key: sim.publicKey })) as {
        data?: { payload?: { id?: string } };
      };
      expect(event.data?.payload?.id).toBe(data!.id);
      expect(r.headers['telnyx-timestamp']).toMatch(/^\d+$/);
      expect(Buffer.from(r.headers['telnyx-signature-ed25519']!, 'base64')).toHaveLength(64);
    }
    const [sent, finalized] = envelopes('/receipts/telnyx/m-receipts');
    expect(sent!.data.event_type).toBe('message.sent');
    expect(sent!.data.payload.to[0]?.status).toBe('sent');
    expect(finalized!.data).toMatchObject({ event_type: 'message.finalized', record_type: 'event' });
    expect(finalized!.data.payload.to[0]?.status).toBe('delivered');
    // The event id is not the message id: receivers must key on data.payload.id.
    expect(finalized!.data.id).not.toBe(data!.id);
    expect(sent!.data.id).not.toBe(finalized!.data.id);
    expect(finalized!.meta).toEqual({ attempt: 1, delivered_to: callback('m-receipts') });
  });

  it('fails verification when the body is tampered with or the key is another one', async () => {
    await send('m-tamper');
    const [r] = await receiver.waitFor('/receipts/telnyx/m-tamper', 1);
    const tampered = r!.rawBody.replace('"attempt":1', '"attempt":2');
    expect(tampered).not.toBe(r!.rawBody);
    await expect(
      client.webhooks.unwrap(tampered, { headers: r!.headers, key: sim.publicKey }),
    ).rejects.toThrow(/signature/i);
    const otherKey = telnyxPublicKeyBase64(generateKeyPairSync('ed25519').publicKey);
    await expect(
      client.webhooks.unwrap(r!.rawBody, { headers: r!.headers, key: otherKey }),
    ).rejects.toThrow();
  });

  it('keeps the public key stable when given a key pair', async () => {
    const pair = generateKeyPairSync('ed25519');
    const a = await startTelnyxSimulator({ apiKey, publicKeyPair: pair });
    const b = await startTelnyxSimulator({ apiKey, publicKeyPair: pair });
    expect(a.publicKey).toBe(b.publicKey);
    expect(Buffer.from(a.publicKey, 'base64')).toHaveLength(32);
    await a.close();
    await b.close();
  });

  it('finalizes as delivery_failed with the configured error code', async () => {
    sim.faults.receipts({ failDelivery: { code: '40006' } });
    await send('m-fail');
    const [, finalized] = await receiver.waitFor('/receipts/telnyx/m-fail', 2);
    const event = JSON.parse(finalized!.rawBody) as TelnyxEnvelope;
    expect(event.data.event_type).toBe('message.finalized');
    expect(event.data.payload.to[0]?.status).toBe('delivery_failed');
    expect(event.data.payload.errors).toEqual([expect.objectContaining({ code: '40006' })]);
  });

  it('posts every receipt twice with the same event id when duplicating', async () => {
    sim.faults.receipts({ duplicateReceipts: true });
    await send('m-dup');
    await receiver.waitFor('/receipts/telnyx/m-dup', 4);
    await sim.settled();
    const events = envelopes('/receipts/telnyx/m-dup').map((e) => e.data);
    expect(events.map((e) => e.event_type)).toEqual([
      'message.sent',
      'message.sent',
      'message.finalized',
      'message.finalized',
    ]);
    expect(events[0]!.id).toBe(events[1]!.id);
    expect(events[2]!.id).toBe(events[3]!.id);
  });

  it('posts message.finalized before message.sent when out of order', async () => {
    sim.faults.receipts({ outOfOrderReceipts: true });
    await send('m-ooo');
    await receiver.waitFor('/receipts/telnyx/m-ooo', 2);
    expect(envelopes('/receipts/telnyx/m-ooo').map((e) => e.data.event_type)).toEqual([
      'message.finalized',
      'message.sent',
    ]);
  });

  it('applies receipt behaviour per recipient, over the global one', async () => {
    const to = '+15551230077';
    sim.faults.recipient(to, { receipts: { drop: true } });
    await send('m-drop', { to });
    await send('m-nodrop');
    await sim.settled();
    expect(receiver.at('/receipts/telnyx/m-drop')).toHaveLength(0);
    expect(receiver.at('/receipts/telnyx/m-nodrop')).toHaveLength(2);
  });

  it('retries a receipt 3 times when the receiver does not answer 2xx, counting meta.attempt', async () => {
    receiver.script(500, 503, 500);
    await send('m-retry');
    await receiver.waitFor('/receipts/telnyx/m-retry', 5);
    await sim.settled();
    const events = envelopes('/receipts/telnyx/m-retry');
    expect(events.map((e) => `${e.data.event_type}#${e.meta.attempt}`)).toEqual([
      'message.sent#1',
      'message.sent#2',
      'message.sent#3',
      'message.sent#4',
      'message.finalized#1',
    ]);
    // Each attempt is signed afresh (meta changes), and all of them verify.
    for (const r of receiver.at('/receipts/telnyx/m-retry')) {
      await expect(
        client.webhooks.unwrap(r.rawBody, { headers: r.headers, key: sim.publicKey }),
      ).resolves.toBeDefined();
    }
  });

  it('moves to the failover URL after the retries on the primary run out', async () => {
    receiver.script(500, 500, 500, 500);
    await client.messages.send({
      to: TO,
      from: FROM,
      text: 'failover',
      webhook_url: `${receiver.origin}/primary/m-fo`,
      webhook_failover_url: `${receiver.origin}/failover/m-fo`,
    });
    await sim.settled();
    expect(receiver.at('/primary/m-fo')).toHaveLength(4 + 1);
    const failover = receiver.at('/failover/m-fo').map((r) => JSON.parse(r.rawBody) as TelnyxEnvelope);
    expect(failover.map((e) => e.data.event_type)).toEqual(['message.sent']);
    expect(failover[0]!.meta.delivered_to).toBe(`${receiver.origin}/failover/m-fo`);
  });

  it('delivers an inbound STOP as a signed message.received event', async () => {
    const record = await sim.sendInbound({
      to: FROM,
      from: TO,
      text: 'STOP',
      url: `${receiver.origin}/inbound/telnyx`,
    });
    expect(record.delivered).toBe(true);
    const [r] = receiver.at('/inbound/telnyx');
    const event = (await client.webhooks.unwrap(r!.rawBody, { headers: r!.headers, key: sim.publicKey })) as {
      data?: { event_type?: string };
    };
    expect(event.data?.event_type).toBe('message.received');
    const payload = (JSON.parse(r!.rawBody) as TelnyxEnvelope).data.payload;
    expect(payload).toMatchObject({ direction: 'inbound', text: 'STOP', from: { phone_number: TO } });
    expect(payload.to[0]?.phone_number).toBe(FROM);
  });
});

describe('Telnyx simulator: admin API over HTTP', () => {
  it('takes faults as JSON at POST /__admin/faults, as `massivesms simulate` users drive it', async () => {
    const post = (body: unknown) =>
      fetch(`${sim.origin}/__admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await post({ next: [{ status5xx: 503 }], receipts: { outOfOrderReceipts: true } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      queued: [{ status5xx: 503 }],
      receipts: { outOfOrderReceipts: true },
    });
    expect(((await rejectionOf(send('m-admin'))) as APIError).status).toBe(503);

    const bad = await post({ next: [{ status5xx: 200 }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: expect.stringContaining('500..599') });
    const noDuration = await post({ refuse: {} });
    expect(noDuration.status).toBe(400);

    const refused = await post({ refuse: { forMs: 300 } });
    expect(refused.status).toBe(200);
    expect(await rejectionOf(send('m-admin-refused'))).toBeInstanceOf(APIConnectionError);
    await eventually(3_000, async () => {
      await send('m-admin-refused');
    });

    const ledger = (await (await fetch(`${sim.origin}/__admin/ledger`)).json()) as { entries: unknown[] };
    expect(ledger.entries.length).toBe(sim.ledger.size);
    expect((await fetch(`${sim.origin}/__admin/faults`, { method: 'DELETE' })).status).toBe(200);
    expect(sim.faults.snapshot()).toMatchObject({ queued: [], always: null, refusing: false });
  });

  it('answers GET /__admin/counts with the accepted sends and the receipts posted, without the records', async () => {
    const counts = async () =>
      (await (await fetch(`${sim.origin}/__admin/counts`)).json()) as Record<string, number>;
    const before = await counts();
    receiver.script(500); // the first receipt is answered 500 once, then retried
    await send('m-counts');
    await sim.settled();
    const after = await counts();
    expect(after.accepted! - before.accepted!).toBe(1);
    // message.sent and message.finalized, each posted once.
    expect(after.receiptsPosted! - before.receiptsPosted!).toBe(2);
    expect(after.receiptAttempts! - before.receiptAttempts!).toBe(3);
    expect(after).toEqual({
      accepted: sim.ledger.size,
      receiptsPosted: sim.deliveries.length,
      receiptAttempts: sim.deliveries.reduce((n, d) => n + d.attempts.length, 0),
    });
  });
});

function causeChain(error: unknown): string[] {
  const out: string[] = [];
  let e: unknown = error;
  while (e instanceof Error) {
    out.push(`${e.name}: ${e.message} ${(e as { code?: string }).code ?? ''}`);
    e = e.cause;
  }
  return out;
}
