import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../src/eventually.ts';
import {
  MAX_BODY_BYTES,
  ReceiverConfigError,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../../src/receiver/index.ts';

const BODY = '{"type": "message.delivered",\n "text": "héllo 😀", "statusSeq": 3}';

function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** Standard Webhooks headers for one attempt, one signature per secret (a rotating sender sends several). */
function signed(
  secrets: string | string[],
  id: string,
  body: string,
  at = new Date(),
): Record<string, string> {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': list.map((s) => new StandardWebhook(s).sign(id, at, body)).join(' '),
  };
}

function post(url: string, body: string, headers: Record<string, string>, signal?: AbortSignal) {
  // A Standard Webhooks sender never follows redirects; `manual` lets the test see the 302 itself.
  return fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: signal ?? null });
}

let receiver: WebhookReceiver;
let secret: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});

beforeEach(() => {
  secret = newSecret();
});

afterAll(async () => {
  await receiver.close();
});

describe('webhook receiver: verification', () => {
  it('verifies a correctly signed delivery with both packages, answers 2xx and keeps the exact body', async () => {
    const url = receiver.endpoint('good', { secrets: [secret] });
    expect(url).toBe(`${receiver.origin}/hooks/good`);
    const at = new Date();
    const res = await post(url, BODY, signed(secret, 'msg_good', BODY, at));
    expect(res.status).toBe(200);
    expect(receiver.forEndpoint('good')).toEqual([
      {
        endpoint: 'good',
        webhookId: 'msg_good',
        timestamp: Math.floor(at.getTime() / 1000),
        body: BODY,
        verified: { standardwebhooks: true, svix: true },
        status: 200,
        receivedAt: expect.any(Date),
      },
    ]);
    expect(receiver.summary().byEndpoint.good).toEqual({ received: 1, delivered: 1, signatureFailures: 0 });
  });

  const stale = () => new Date(Date.now() - 6 * 60_000);
  const early = () => new Date(Date.now() + 6 * 60_000);
  it.each([
    ['a tampered body', (s: string) => ({ body: `${BODY} `, headers: signed(s, 'msg_bad', BODY) })],
    [
      'the same JSON re-serialised',
      (s: string) => ({ body: JSON.stringify(JSON.parse(BODY)), headers: signed(s, 'msg_bad', BODY) }),
    ],
    ['a wrong secret', () => ({ body: BODY, headers: signed(newSecret(), 'msg_bad', BODY) })],
    [
      'a timestamp over 5 minutes old',
      (s: string) => ({ body: BODY, headers: signed(s, 'msg_bad', BODY, stale()) }),
    ],
    [
      'a timestamp over 5 minutes ahead',
      (s: string) => ({ body: BODY, headers: signed(s, 'msg_bad', BODY, early()) }),
    ],
    [
      'a signature for another webhook-id',
      (s: string) => ({ body: BODY, headers: { ...signed(s, 'msg_other', BODY), 'webhook-id': 'msg_bad' } }),
    ],
    [
      'no webhook-signature header',
      (s: string) => {
        const { 'webhook-signature': _, ...headers } = signed(s, 'msg_bad', BODY);
        return { body: BODY, headers };
      },
    ],
  ])('answers 400 to %s and counts a signature failure', async (_case, make) => {
    const name = `bad-${randomBytes(4).toString('hex')}`;
    const url = receiver.endpoint(name, { secrets: [secret] });
    const { body, headers } = make(secret);
    const res = await post(url, body, headers);
    expect(res.status).toBe(400);
    expect(receiver.forEndpoint(name)).toEqual([
      expect.objectContaining({ status: 400, verified: { standardwebhooks: false, svix: false } }),
    ]);
    expect(receiver.summary().byEndpoint[name]).toEqual({ received: 1, delivered: 0, signatureFailures: 1 });
  });

  it('answers 400 when only one package rejects (svix reads svix-* headers first)', async () => {
    const url = receiver.endpoint('split', { secrets: [secret] });
    const headers = {
      ...signed(secret, 'msg_split', BODY),
      'svix-id': 'msg_split',
      'svix-timestamp': String(Math.floor(Date.now() / 1000)),
      'svix-signature': `v1,${Buffer.alloc(32).toString('base64')}`,
    };
    const res = await post(url, BODY, headers);
    expect(res.status).toBe(400);
    expect(receiver.forEndpoint('split')[0]?.verified).toEqual({ standardwebhooks: true, svix: false });
    expect(receiver.summary().byEndpoint.split?.signatureFailures).toBe(1);
  });

  it('lets a signature failure win over the behaviour (a bad signature is always 400)', async () => {
    const url = receiver.endpoint('bad-behaved', { secrets: [secret], behaviour: { status: 410 } });
    const res = await post(url, BODY, signed(newSecret(), 'msg_x', BODY));
    expect(res.status).toBe(400);
  });

  describe('secret rotation', () => {
    const oldSecret = newSecret();
    const newerSecret = newSecret();
    it.each([
      ['both secrets configured, both signatures sent', [oldSecret, newerSecret], [oldSecret, newerSecret]],
      ['only the new secret configured, both signatures sent', [newerSecret], [oldSecret, newerSecret]],
      ['both secrets configured, only the old signature sent', [oldSecret, newerSecret], [oldSecret]],
      ['both secrets configured, only the new signature sent', [oldSecret, newerSecret], [newerSecret]],
    ])('verifies with %s', async (_case, configured, signedWith) => {
      const name = `rotation-${randomBytes(4).toString('hex')}`;
      const url = receiver.endpoint(name, { secrets: configured });
      const headers = signed(signedWith, 'msg_rot', BODY);
      expect(headers['webhook-signature']?.split(' ')).toHaveLength(signedWith.length);
      const res = await post(url, BODY, headers);
      expect(res.status).toBe(200);
      expect(receiver.forEndpoint(name)[0]?.verified).toEqual({ standardwebhooks: true, svix: true });
    });

    it('refuses the old secret once setSecrets() has dropped it', async () => {
      const url = receiver.endpoint('rotated', { secrets: [oldSecret, newerSecret] });
      expect((await post(url, BODY, signed(oldSecret, 'msg_1', BODY))).status).toBe(200);
      receiver.setSecrets('rotated', [newerSecret]);
      expect((await post(url, BODY, signed(oldSecret, 'msg_2', BODY))).status).toBe(400);
      expect((await post(url, BODY, signed(newerSecret, 'msg_3', BODY))).status).toBe(200);
      expect(receiver.summary().byEndpoint.rotated).toEqual({
        received: 3,
        delivered: 2,
        signatureFailures: 1,
      });
    });
  });

  describe("the spec's known-answer vector", () => {
    const vector = {
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };

    it.each([
      ['standardwebhooks', new StandardWebhook(vector.secret)],
      ['svix', new SvixWebhook(vector.secret)],
    ])('%s computes the expected signature', (_pkg, webhook) => {
      expect(webhook.sign(vector.id, new Date(vector.timestamp * 1000), vector.body)).toBe(vector.signature);
    });

    it('is refused as stale by the receiver (2021), while the same secret, id and body signed now verify', async () => {
      const url = receiver.endpoint('vector', { secrets: [vector.secret] });
      const asPublished = await post(url, vector.body, {
        'webhook-id': vector.id,
        'webhook-timestamp': String(vector.timestamp),
        'webhook-signature': vector.signature,
      });
      expect(asPublished.status).toBe(400);
      const fresh = await post(url, vector.body, signed(vector.secret, vector.id, vector.body));
      expect(fresh.status).toBe(200);
      expect(receiver.forEndpoint('vector').map((r) => [r.timestamp === vector.timestamp, r.status])).toEqual(
        [
          [true, 400],
          [false, 200],
        ],
      );
    });
  });

  it('answers 404 for an unknown endpoint and records it unverified, not as a signature failure', async () => {
    const res = await post(`${receiver.origin}/hooks/nobody`, BODY, signed(secret, 'msg_lost', BODY));
    expect(res.status).toBe(404);
    expect(receiver.forEndpoint('nobody')).toEqual([
      expect.objectContaining({
        webhookId: 'msg_lost',
        status: 404,
        verified: { standardwebhooks: false, svix: false },
      }),
    ]);
    expect(receiver.summary().byEndpoint.nobody).toEqual({ received: 1, delivered: 0, signatureFailures: 0 });
  });

  it('accepts a body of exactly 256 KiB and answers 413 to one byte more', async () => {
    const url = receiver.endpoint('big', { secrets: [secret] });
    const fits = `"${'a'.repeat(MAX_BODY_BYTES - 2)}"`;
    const tooBig = `"${'a'.repeat(MAX_BODY_BYTES - 1)}"`;
    expect((await post(url, fits, signed(secret, 'msg_fits', fits))).status).toBe(200);
    expect((await post(url, tooBig, signed(secret, 'msg_big', tooBig))).status).toBe(413);
    expect(receiver.forEndpoint('big').map((r) => [r.webhookId, r.status, r.body.length])).toEqual([
      ['msg_fits', 200, MAX_BODY_BYTES],
      ['msg_big', 413, 0],
    ]);
  });
});

describe('webhook receiver: behaviours', () => {
  it('with failFirst: 2 answers 500, 500, 200 to one webhook-id and counts one delivery', async () => {
    const url = receiver.endpoint('flaky', { secrets: [secret], behaviour: { failFirst: 2 } });
    const statuses: number[] = [];
    // Same id on every attempt, a fresh timestamp and signature each time, as a sender retries.
    for (let i = 0; i < 4; i++) statuses.push((await post(url, BODY, signed(secret, 'msg_a', BODY))).status);
    expect(statuses).toEqual([500, 500, 200, 200]);
    expect(receiver.summary().byEndpoint.flaky).toEqual({ received: 4, delivered: 1, signatureFailures: 0 });
    // Another id starts its own count.
    expect((await post(url, BODY, signed(secret, 'msg_b', BODY))).status).toBe(500);
  });

  it('restarts failFirst counting when the behaviour is set again, and answers 200 after it is cleared', async () => {
    const url = receiver.endpoint('reset', { secrets: [secret], behaviour: { failFirst: 1 } });
    const send = async () => (await post(url, BODY, signed(secret, 'msg_r', BODY))).status;
    expect([await send(), await send()]).toEqual([500, 200]);
    receiver.setBehaviour('reset', { failFirst: 1 });
    expect(await send()).toBe(500);
    receiver.setBehaviour('reset', null);
    expect(await send()).toBe(200);
  });

  it('answers a fixed status 410 and does not count it as delivered', async () => {
    const url = receiver.endpoint('gone', { secrets: [secret], behaviour: { status: 410 } });
    const res = await post(url, BODY, signed(secret, 'msg_gone', BODY));
    expect(res.status).toBe(410);
    expect(receiver.forEndpoint('gone')[0]).toMatchObject({
      status: 410,
      verified: { standardwebhooks: true, svix: true },
    });
    expect(receiver.summary().byEndpoint.gone).toEqual({ received: 1, delivered: 0, signatureFailures: 0 });
  });

  it('sends Retry-After with 503 when asked, and none with a plain 429', async () => {
    const busy = receiver.endpoint('busy', {
      secrets: [secret],
      behaviour: { status: 503, retryAfterSeconds: 7 },
    });
    const res = await post(busy, BODY, signed(secret, 'msg_busy', BODY));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    const limited = receiver.endpoint('limited', { secrets: [secret], behaviour: { status: 429 } });
    const plain = await post(limited, BODY, signed(secret, 'msg_lim', BODY));
    expect(plain.status).toBe(429);
    expect(plain.headers.get('retry-after')).toBeNull();
  });

  it('answers 302 with the Location of redirectTo, which is not a delivery', async () => {
    const url = receiver.endpoint('moved', {
      secrets: [secret],
      behaviour: { redirectTo: 'https://elsewhere.example/hooks' },
    });
    const res = await post(url, BODY, signed(secret, 'msg_moved', BODY));
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://elsewhere.example/hooks');
    expect(receiver.summary().byEndpoint.moved?.delivered).toBe(0);
  });

  it('answers with the behaviour after hangMs', async () => {
    const url = receiver.endpoint('slow', { secrets: [secret], behaviour: { hangMs: 50, status: 503 } });
    expect((await post(url, BODY, signed(secret, 'msg_slow', BODY))).status).toBe(503);
  });

  it('does not count a delivery whose sender hung up during the hang', async () => {
    const url = receiver.endpoint('abandoned', { secrets: [secret], behaviour: { hangMs: 1_000 } });
    await expect(
      post(url, BODY, signed(secret, 'msg_gave_up', BODY), AbortSignal.timeout(50)),
    ).rejects.toThrow();
    // Past the hang: had the receiver still "answered", the record would say 200.
    await sleep(1_500);
    expect(receiver.forEndpoint('abandoned')).toEqual([expect.objectContaining({ status: 0 })]);
    expect(receiver.summary().byEndpoint.abandoned?.delivered).toBe(0);
  });

  it('close() cuts a request hanging for 30 s within a couple of seconds and stops listening', async () => {
    const own = await startWebhookReceiver();
    const url = own.endpoint('dead', { secrets: [secret], behaviour: { hangMs: 30_000 } });
    const inFlight = post(url, BODY, signed(secret, 'msg_dead', BODY)).then(
      (res) => res.status,
      (error: unknown) => error,
    );
    await eventually(5_000, () => expect(own.forEndpoint('dead')).toHaveLength(1));
    const started = performance.now();
    await own.close();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await inFlight).toBeInstanceOf(Error);
    expect(own.forEndpoint('dead')[0]?.status).toBe(0);
    await expect(fetch(`${own.origin}/__admin/received`)).rejects.toThrow();
  });
});

describe('webhook receiver: in-process configuration', () => {
  it.each([
    ['a name with a slash', () => receiver.endpoint('a/b', { secrets: [secret] }), /name/],
    ['no secrets', () => receiver.endpoint('x', { secrets: [] }), /non-empty array/],
    ['a secret without whsec_', () => receiver.endpoint('x', { secrets: ['c2VjcmV0'] }), /whsec_/],
    [
      'two exclusive answers',
      () => receiver.endpoint('x', { secrets: [secret], behaviour: { failFirst: 1, status: 503 } }),
      /exclusive/,
    ],
    ['an unknown endpoint in setBehaviour', () => receiver.setBehaviour('ghost', null), /no endpoint named/],
    ['an unknown endpoint in setSecrets', () => receiver.setSecrets('ghost', [secret]), /no endpoint named/],
  ])('throws ReceiverConfigError for %s', (_case, act, message) => {
    expect(act).toThrow(ReceiverConfigError);
    expect(act).toThrow(message);
  });
});

describe('webhook receiver: admin HTTP', () => {
  let own: WebhookReceiver;
  const admin = (path: string, init: RequestInit = {}) => fetch(`${own.origin}/__admin/${path}`, init);
  const register = (body: string) =>
    admin('endpoints', { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  beforeEach(async () => {
    own = await startWebhookReceiver();
  });

  afterEach(async () => {
    await own.close();
  });

  it('registers an endpoint, lists what it received with the summary, and clears the log', async () => {
    const res = await register(
      JSON.stringify({ name: 'acme', secrets: [secret], behaviour: { status: 503, retryAfterSeconds: 2 } }),
    );
    expect(res.status).toBe(200);
    const { url } = (await res.json()) as { url: string };
    expect(url).toBe(`${own.origin}/hooks/acme`);

    const delivery = await post(url, BODY, signed(secret, 'msg_admin', BODY));
    expect(delivery.status).toBe(503);
    expect(delivery.headers.get('retry-after')).toBe('2');
    await post(url, BODY, signed(newSecret(), 'msg_forged', BODY));

    const listed = (await (await admin('received')).json()) as {
      received: { webhookId: string; body: string; status: number; receivedAt: string }[];
      summary: unknown;
    };
    expect(listed.received.map((r) => [r.webhookId, r.status, r.body])).toEqual([
      ['msg_admin', 503, BODY],
      ['msg_forged', 400, BODY],
    ]);
    expect(new Date(listed.received[0]!.receivedAt).getTime()).toBe(own.received[0]?.receivedAt.getTime());
    expect(listed.summary).toEqual({
      received: 2,
      delivered: 0,
      signatureFailures: 1,
      byEndpoint: { acme: { received: 2, delivered: 0, signatureFailures: 1 } },
    });

    const cleared = await admin('received', { method: 'DELETE' });
    expect(await cleared.json()).toEqual({ cleared: 2 });
    expect(own.received).toHaveLength(0);
    expect(await (await admin('received')).json()).toEqual({
      received: [],
      summary: { received: 0, delivered: 0, signatureFailures: 0, byEndpoint: {} },
    });
    // The endpoint itself survives the clear.
    expect((await post(url, BODY, signed(secret, 'msg_after', BODY))).status).toBe(503);
  });

  it('counts requests and 2xx answers at GET /__admin/counts, and only answers GET there', async () => {
    const url = own.endpoint('acme', { secrets: [secret] });
    expect(await (await admin('counts')).json()).toEqual({ received: 0, answered2xx: 0 });
    await post(url, BODY, signed(secret, 'msg_1', BODY));
    await post(url, BODY, signed(secret, 'msg_1', BODY)); // a retry: two requests, two 2xx answers
    await post(url, BODY, signed(newSecret(), 'msg_forged', BODY));
    expect(await (await admin('counts')).json()).toEqual({ received: 3, answered2xx: 2 });
    expect((await admin('counts', { method: 'DELETE' })).status).toBe(405);
  });

  const valid = { name: 'x', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] };
  it.each([
    ['malformed JSON', '{"name":', /body must be JSON/],
    ['an array', '[]', /JSON object/],
    ['a missing name', JSON.stringify({ secrets: valid.secrets }), /^name: /],
    ['a name with a slash', JSON.stringify({ ...valid, name: 'a/b' }), /^name: /],
    ['an unknown field', JSON.stringify({ ...valid, secret: 'whsec_x' }), /unknown field "secret"/],
    ['missing secrets', JSON.stringify({ name: 'x' }), /^secrets: expected a non-empty array/],
    [
      'an empty secret list',
      JSON.stringify({ ...valid, secrets: [] }),
      /^secrets: expected a non-empty array/,
    ],
    [
      'a secret without whsec_',
      JSON.stringify({ ...valid, secrets: ['c2VjcmV0'] }),
      /^secrets\[0\]: .*whsec_/,
    ],
    [
      'a secret that is not base64',
      JSON.stringify({ ...valid, secrets: ['whsec_abc'] }),
      /^secrets\[0\]: not a usable secret/,
    ],
    [
      'an unknown behaviour',
      JSON.stringify({ ...valid, behaviour: { explode: true } }),
      /behaviour: unknown field "explode"/,
    ],
    [
      'a negative failFirst',
      JSON.stringify({ ...valid, behaviour: { failFirst: -1 } }),
      /behaviour\.failFirst: /,
    ],
    [
      'status 99',
      JSON.stringify({ ...valid, behaviour: { status: 99 } }),
      /behaviour\.status: expected an integer in 200\.\.599/,
    ],
    ['a string status', JSON.stringify({ ...valid, behaviour: { status: '503' } }), /behaviour\.status: /],
    [
      'Retry-After with a 500',
      JSON.stringify({ ...valid, behaviour: { status: 500, retryAfterSeconds: 5 } }),
      /retryAfterSeconds: only with status 429 or 503/,
    ],
    [
      'status and redirectTo together',
      JSON.stringify({ ...valid, behaviour: { status: 500, redirectTo: 'https://x.example' } }),
      /exclusive/,
    ],
    [
      'a redirect with a space',
      JSON.stringify({ ...valid, behaviour: { redirectTo: 'https://x.example/a b' } }),
      /behaviour\.redirectTo: /,
    ],
    [
      'an 11-minute hang',
      JSON.stringify({ ...valid, behaviour: { hangMs: 660_000 } }),
      /behaviour\.hangMs: /,
    ],
  ])('answers 400 to %s and registers nothing', async (_case, body, message) => {
    const res = await register(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(message);
    expect((await post(`${own.origin}/hooks/x`, BODY, signed(valid.secrets, 'msg_x', BODY))).status).toBe(
      404,
    );
  });

  it('answers 405 to a wrong method and 404 to an unknown admin path', async () => {
    expect((await admin('endpoints')).status).toBe(405);
    expect((await admin('received', { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await admin('faults')).status).toBe(404);
    expect((await fetch(`${own.origin}/hooks/acme`)).status).toBe(405);
    expect(own.received).toHaveLength(0);
  });
});
