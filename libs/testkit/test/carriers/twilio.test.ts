import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioSimulator, type TwilioSimulator } from '../../src/carriers/index.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from './receiver.ts';

const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const authToken = 'simulated_auth_token_0123456789ab';
const FROM = '+15550000002';
const TO = '+15551230002';

/** The other documented way in: an httpClient that moves every request from api.twilio.com to the simulator. */
class SimulatorRequestClient extends twilio.RequestClient {
  readonly #origin: string;
  constructor(origin: string, options: ConstructorParameters<typeof twilio.RequestClient>[0] = {}) {
    super(options);
    this.#origin = origin;
  }
  override request<T>(opts: RequestClient.RequestOptions<T>) {
    const url = new URL(opts.uri);
    return super.request<T>({ ...opts, uri: `${this.#origin}${url.pathname}${url.search}` });
  }
}

let sim: TwilioSimulator;
let receiver: Receiver;
let client: twilio.Twilio;

function pointedAt(baseUrl: string, opts: { authToken?: string; timeout?: number } = {}): twilio.Twilio {
  const c = twilio(accountSid, opts.authToken ?? authToken, opts.timeout ? { timeout: opts.timeout } : {});
  c.api.baseUrl = baseUrl;
  return c;
}

function callback(messageId: string): string {
  return `${receiver.origin}/receipts/twilio/${messageId}`;
}

function send(messageId: string, overrides: { to?: string; body?: string } = {}, c: twilio.Twilio = client) {
  return c.messages.create({
    to: overrides.to ?? TO,
    from: FROM,
    body: overrides.body ?? 'Your code is 1234',
    statusCallback: callback(messageId),
  });
}

function form(r: ReceivedRequest): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(r.rawBody));
}

function verifies(r: ReceivedRequest, token = authToken): boolean {
  return twilio.validateRequest(token, r.headers['x-twilio-signature'] ?? '', r.url, form(r));
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
  sim = await startTwilioSimulator({ accountSid, authToken });
  receiver = await startReceiver();
  client = pointedAt(sim.baseUrl);
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

describe('Twilio simulator: sending through the official SDK', () => {
  it('creates a message (client.api.baseUrl pointed at the simulator) and answers with the sid', async () => {
    const message = await send('m-create');
    expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(message.status).toBe('queued');
    expect(message.numSegments).toBe('1');
    expect(message.errorCode).toBeNull();
    expect(message.errorMessage).toBeNull();
    expect(message).toMatchObject({
      to: TO,
      from: FROM,
      body: 'Your code is 1234',
      accountSid,
      direction: 'outbound-api',
    });
    expect(message.dateCreated).toBeInstanceOf(Date);
    expect(Number.isNaN(message.dateCreated.getTime())).toBe(false);
    expect(message.uri).toBe(`/2010-04-01/Accounts/${accountSid}/Messages/${message.sid}.json`);
    expect(sim.ledger.forCallbackId('m-create')).toEqual([
      expect.objectContaining({
        carrier: 'twilio',
        carrierMessageId: message.sid,
        to: TO,
        response: 'answered',
      }),
    ]);
  });

  it('works the same through a custom httpClient that rewrites the URI', async () => {
    const viaHttpClient = twilio(accountSid, authToken, {
      httpClient: new SimulatorRequestClient(sim.baseUrl),
    });
    const message = await send('m-httpclient', {}, viaHttpClient);
    expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
    const fetched = await viaHttpClient.messages(message.sid).fetch();
    expect(fetched.sid).toBe(message.sid);
  });

  it('records Attempt and ValidityPeriod and reports num_segments as a string', async () => {
    const message = await client.messages.create({
      to: TO,
      from: FROM,
      body: `${'é'.repeat(150)}😀`,
      attempt: 2,
      validityPeriod: 600,
      statusCallback: callback('m-fields'),
    });
    expect(message.numSegments).toBe('3');
    expect(sim.ledger.forCallbackId('m-fields')[0]?.fields).toMatchObject({
      Attempt: '2',
      ValidityPeriod: '600',
    });
  });

  it('rejects wrong credentials with 401 and code 20003', async () => {
    const error = (await rejectionOf(
      send('m-auth', {}, pointedAt(sim.baseUrl, { authToken: 'wrong' })),
    )) as twilio.RestException;
    expect(error).toBeInstanceOf(twilio.RestException);
    expect(error.status).toBe(401);
    expect(error.code).toBe(20003);
    expect(sim.ledger.countForCallbackId('m-auth')).toBe(0);
  });

  it.each([
    ['invalidNumber', 21211],
    ['optedOut', 21610],
    ['contentRejected', 30007],
  ] as const)('rejects a %s recipient as RestException %i with status 400', async (kind, code) => {
    const to = '+15551239998';
    sim.faults.recipient(to, { error: kind });
    const error = (await rejectionOf(send(`m-${kind}`, { to }))) as twilio.RestException;
    expect(error).toBeInstanceOf(twilio.RestException);
    expect(error.code).toBe(code);
    expect(error.status).toBe(400);
    expect(error.moreInfo).toBe(`https://www.twilio.com/docs/errors/${code}`);
    expect(error.message).not.toContain(to);
    expect(sim.ledger.countForCallbackId(`m-${kind}`)).toBe(0);
  });

  it('rejects a To that is not E.164 with 21211 and a missing sender with 21603', async () => {
    expect(((await rejectionOf(send('m-bad', { to: '5551234' }))) as twilio.RestException).code).toBe(21211);
    const noSender = client.messages.create({ to: TO, body: 'x' } as unknown as Parameters<
      typeof client.messages.create
    >[0]);
    expect(((await rejectionOf(noSender)) as twilio.RestException).code).toBe(21603);
  });

  it('surfaces a 5xx fault as RestException 500 with code 20500', async () => {
    sim.faults.next({ status5xx: 500 });
    const error = (await rejectionOf(send('m-5xx'))) as twilio.RestException;
    expect(error).toBeInstanceOf(twilio.RestException);
    expect(error.status).toBe(500);
    expect(error.code).toBe(20500);
    expect(sim.ledger.countForCallbackId('m-5xx')).toBe(0);
  });

  it('surfaces a rate-limit fault as 429 with code 20429', async () => {
    sim.faults.next({ rateLimit: { retryAfterSeconds: 3 } });
    const error = (await rejectionOf(send('m-429'))) as twilio.RestException;
    expect(error.status).toBe(429);
    expect(error.code).toBe(20429);
  });

  it('surfaces timeout-after-accept as the HTTP client error (not RestException) while the ledger counts the send', async () => {
    sim.faults.next({ timeoutAfterAccept: true });
    const error = await rejectionOf(send('m-timeout', {}, pointedAt(sim.baseUrl, { timeout: 300 })));
    expect(error).not.toBeInstanceOf(twilio.RestException);
    expect((error as { code?: string }).code).toBe('ECONNABORTED');
    expect(sim.ledger.countForCallbackId('m-timeout')).toBe(1);
    expect(sim.ledger.forCallbackId('m-timeout')[0]?.response).toBe('withheld');
    await receiver.waitFor('/receipts/twilio/m-timeout', 2);
  });

  it('refuses connections with ECONNREFUSED until accepted again', async () => {
    await sim.faults.refuseConnections();
    const error = await rejectionOf(send('m-refused'));
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    await sim.faults.acceptConnections();
    await expect(send('m-refused')).resolves.toBeDefined();
    expect(sim.ledger.countForCallbackId('m-refused')).toBe(1);
  });

  it('resets the connection without an answer', async () => {
    sim.faults.next({ reset: true });
    const error = await rejectionOf(send('m-reset'));
    expect(error).not.toBeInstanceOf(twilio.RestException);
    expect((error as { code?: string }).code).toBe('ECONNRESET');
    expect(sim.ledger.countForCallbackId('m-reset')).toBe(0);
  });

  it('answers `accepted` with a null from for a messaging service, and names it in callbacks', async () => {
    const service = `MG${'ab'.repeat(16)}`;
    const message = await client.messages.create({
      to: TO,
      messagingServiceSid: service,
      body: 'hi',
      statusCallback: callback('m-service'),
    });
    expect(message.status).toBe('accepted');
    expect(message.from).toBeNull();
    expect(message.messagingServiceSid).toBe(service);
    const received = await receiver.waitFor('/receipts/twilio/m-service', 2);
    expect(form(received[0]!)).toMatchObject({
      MessagingServiceSid: service,
      From: expect.stringMatching(/^\+/),
    });
  });
});

describe('Twilio simulator: signed callbacks', () => {
  it('posts sent then delivered, each verifiable with twilio.validateRequest', async () => {
    const message = await send('m-callbacks');
    const received = await receiver.waitFor('/receipts/twilio/m-callbacks', 2);
    for (const r of received) expect(verifies(r)).toBe(true);
    const [sent, delivered] = received.map(form);
    expect(sent).toMatchObject({
      MessageSid: message.sid,
      SmsSid: message.sid,
      MessageStatus: 'sent',
      SmsStatus: 'sent',
      AccountSid: accountSid,
      From: FROM,
      To: TO,
      ApiVersion: '2010-04-01',
    });
    expect(sent).not.toHaveProperty('RawDlrDoneDate');
    expect(sent).not.toHaveProperty('ErrorCode');
    expect(delivered).toMatchObject({ MessageSid: message.sid, MessageStatus: 'delivered' });
    expect(delivered!.RawDlrDoneDate).toMatch(/^\d{10}$/);
    const fetched = await client.messages(message.sid).fetch();
    expect(fetched.status).toBe('delivered');
  });

  it('fails verification for a tampered body, another URL or another token', async () => {
    await send('m-tamper');
    const [r] = await receiver.waitFor('/receipts/twilio/m-tamper', 1);
    const params = form(r!);
    const signature = r!.headers['x-twilio-signature']!;
    expect(
      twilio.validateRequest(authToken, signature, r!.url, { ...params, MessageStatus: 'delivered' }),
    ).toBe(false);
    expect(twilio.validateRequest(authToken, signature, `${r!.url}x`, params)).toBe(false);
    expect(verifies(r!, 'another_token')).toBe(false);
  });

  it('reports undelivered with ErrorCode when delivery fails, and only `failed` for a failed message', async () => {
    const to = '+15551230042';
    sim.faults.receipts({ failDelivery: true });
    sim.faults.recipient(to, { receipts: { failDelivery: { status: 'failed', code: 30008 } } });
    await send('m-undelivered');
    await send('m-failed', { to });
    await sim.settled();
    const undelivered = receiver.at('/receipts/twilio/m-undelivered').map(form);
    expect(undelivered.map((f) => f.MessageStatus)).toEqual(['sent', 'undelivered']);
    expect(undelivered[1]).toMatchObject({
      ErrorCode: '30003',
      RawDlrDoneDate: expect.stringMatching(/^\d{10}$/),
    });
    const failed = receiver.at('/receipts/twilio/m-failed').map(form);
    expect(failed).toEqual([expect.objectContaining({ MessageStatus: 'failed', ErrorCode: '30008' })]);
  });

  it('duplicates and reorders callbacks when told to', async () => {
    sim.faults.receipts({ duplicateReceipts: true, outOfOrderReceipts: true });
    await send('m-dup-ooo');
    await sim.settled();
    const received = receiver.at('/receipts/twilio/m-dup-ooo');
    expect(received.map((r) => form(r).MessageStatus)).toEqual(['delivered', 'delivered', 'sent', 'sent']);
    expect(received[0]!.rawBody).toBe(received[1]!.rawBody);
    expect(received[0]!.headers['i-twilio-idempotency-token']).toBe(
      received[1]!.headers['i-twilio-idempotency-token'],
    );
    for (const r of received) expect(verifies(r)).toBe(true);
  });

  it('signs over the callback URL exactly as posted, query string included', async () => {
    const url = `${receiver.origin}/receipts/twilio/m-query?cell=eu&x=a%20b`;
    await client.messages.create({ to: TO, from: FROM, body: 'q', statusCallback: url });
    const [r] = await receiver.waitFor('/receipts/twilio/m-query', 1);
    expect(r!.url).toBe(url);
    expect(verifies(r!)).toBe(true);
    expect(sim.ledger.countForCallbackId('m-query')).toBe(1);
  });

  it('posts an inbound STOP as a signed form with the message fields', async () => {
    const url = `${receiver.origin}/inbound/twilio`;
    const record = await sim.sendInbound({ to: FROM, from: TO, text: 'STOP', url });
    expect(record.delivered).toBe(true);
    const [r] = receiver.at('/inbound/twilio');
    expect(verifies(r!)).toBe(true);
    expect(form(r!)).toMatchObject({
      MessageSid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      From: TO,
      To: FROM,
      Body: 'STOP',
      AccountSid: accountSid,
      NumSegments: '1',
    });
  });

  it('does not retry a failed callback by default, as Twilio does not', async () => {
    receiver.script(500);
    await send('m-noretry');
    await sim.settled();
    expect(receiver.at('/receipts/twilio/m-noretry').map((r) => form(r).MessageStatus)).toEqual([
      'sent',
      'delivered',
    ]);
    expect(sim.deliveries.filter((d) => d.kind === 'sent' && !d.delivered)).toHaveLength(1);
  });
});

describe('Twilio simulator: admin API over HTTP', () => {
  it('takes the same fault JSON as the Telnyx simulator', async () => {
    const res = await fetch(`${sim.baseUrl}/__admin/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: { [TO]: { error: 'optedOut' } } }),
    });
    expect(res.status).toBe(200);
    expect(((await rejectionOf(send('m-admin'))) as twilio.RestException).code).toBe(21610);
    await fetch(`${sim.baseUrl}/__admin/faults`, { method: 'DELETE' });
    await expect(send('m-admin')).resolves.toBeDefined();
  });
});
