import { systemResolver } from '@massivesms/ssrf';
import { eventually } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// The webhooks service end to end: real Kafka and PostgreSQL, a local receiver that verifies every
// request with the real `standardwebhooks` and `svix` packages.
describe('webhook delivery (real Kafka and PostgreSQL, verified by standardwebhooks and svix)', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;
  const attemptsOf = async (webhookId: string) =>
    (await h.webhooks.store.attempts([webhookId])).map((a) => a.httpStatus ?? a.errorClass);
  const deliveriesOf = (controllerId: string, messageId: string) =>
    h.webhooks.store.forMessage(controllerId, messageId);
  // A controller's other endpoints may subscribe to the same status: pick the one under test.
  const deliveryTo = async (controllerId: string, messageId: string, endpointId: string) =>
    (await deliveriesOf(controllerId, messageId)).find((d) => d.endpointId === endpointId);

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startWebhooksHarness({
      ssrf: {
        allowList: ['127.0.0.1'],
        // One name resolves to a private address: a DNS answer that changed after registration.
        resolver: async (host) =>
          host === 'internal.example.com' ? [{ address: '10.1.2.3', family: 4 }] : systemResolver(host),
      },
    });
    for (const c of ['acme', 'globex', 'initech']) await h.publishController(c);
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  it('delivers a signed status that both packages verify, with the decrypted number, once per endpoint', async () => {
    const secret = newSecret();
    const url = receiver.endpoint('acme-main', { secrets: [secret] });
    await h.publishEndpoint({ endpointId: 'ep-acme', controllerId: 'acme', url, secrets: [secret] });
    const status = await h.publishStatus('acme', 'm-1');
    await eventually(20_000, () => expect(receiver.forEndpoint('acme-main')).toHaveLength(1));
    const [got] = receiver.forEndpoint('acme-main');
    expect(got?.verified).toEqual({ standardwebhooks: true, svix: true });
    expect(JSON.parse(got!.body)).toMatchObject({
      type: 'message.delivered',
      data: {
        messageId: 'm-1',
        campaignId: 'c1',
        status: 'delivered',
        statusSeq: status.statusSeq,
        occurredAt: status.occurredAt,
        carrier: 'telnyx',
        to: '+14155552671',
      },
    });
    // The receiver answers before the worker records the attempt: wait for the record.
    await eventually(5_000, async () =>
      expect((await deliveriesOf('acme', 'm-1'))[0]).toMatchObject({
        state: 'delivered',
        attempts: 1,
        webhookId: got?.webhookId,
      }),
    );
    const [stored] = await deliveriesOf('acme', 'm-1');
    // The same status republished after a crash (new event id, same statusSeq) is the same webhook.
    await h.publishStatus('acme', 'm-1', { statusSeq: status.statusSeq });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await deliveriesOf('acme', 'm-1')).toHaveLength(1);
    expect(receiver.forEndpoint('acme-main')).toHaveLength(1);
    expect(stored?.body).not.toContain('+1415'); // encrypted at rest
    await eventually(5_000, () =>
      expect(h.processing().filter((e) => e.messageId === 'm-1')).toEqual([
        expect.objectContaining({
          service: 'webhooks',
          operation: 'webhook.deliver',
          outcome: 'performed',
          dataCategories: ['user.contact.phone_number'],
        }),
      ]),
    );
  });

  it('during a secret rotation it signs with both secrets: receivers holding either one verify', async () => {
    const [oldSecret, newSecret_] = [newSecret(), newSecret()];
    // The control plane lists the new secret first and the old one until its grace period ends.
    const url = receiver.endpoint('acme-rotating', { secrets: [oldSecret] });
    await h.publishEndpoint({
      endpointId: 'ep-rotating',
      controllerId: 'acme',
      url,
      secrets: [newSecret_, oldSecret],
      eventTypes: ['message.undelivered'],
    });
    await h.publishStatus('acme', 'rot-1', { status: 'undelivered', statusSeq: 4 });
    await eventually(20_000, () => expect(receiver.forEndpoint('acme-rotating')).toHaveLength(1));
    receiver.setSecrets('acme-rotating', [newSecret_]);
    await h.publishStatus('acme', 'rot-2', { status: 'undelivered', statusSeq: 4 });
    await eventually(20_000, () => expect(receiver.forEndpoint('acme-rotating')).toHaveLength(2));
    for (const r of receiver.forEndpoint('acme-rotating'))
      expect(r.verified).toEqual({ standardwebhooks: true, svix: true });
  });

  it('a controller’s events go only to its own endpoints, and only for subscribed types', async () => {
    const secret = newSecret();
    const url = receiver.endpoint('globex-failed-only', { secrets: [secret] });
    await h.publishEndpoint({
      endpointId: 'ep-globex',
      controllerId: 'globex',
      url,
      secrets: [secret],
      eventTypes: ['message.failed'],
    });
    await h.publishStatus('globex', 'g-1', { status: 'delivered' });
    await h.publishStatus('globex', 'g-2', { status: 'failed', errorCode: 'CARRIER_INVALID_NUMBER' });
    await h.publishStatus('acme', 'a-2');
    await eventually(20_000, () => expect(receiver.forEndpoint('globex-failed-only')).toHaveLength(1));
    await eventually(20_000, () =>
      expect(receiver.forEndpoint('acme-main').length).toBeGreaterThanOrEqual(2),
    );
    const bodies = receiver.forEndpoint('globex-failed-only').map((r) => JSON.parse(r.body));
    expect(bodies).toEqual([expect.objectContaining({ type: 'message.failed' })]);
    expect(bodies[0].data).toMatchObject({ messageId: 'g-2', errorCode: 'CARRIER_INVALID_NUMBER' });
    expect(receiver.forEndpoint('acme-main').map((r) => JSON.parse(r.body).data.messageId)).not.toContain(
      'g-2',
    );
  });

  it('fails first, succeeds on retry: the same webhook-id, re-signed with a fresh timestamp', async () => {
    const secret = newSecret();
    const url = receiver.endpoint('initech-flaky', { secrets: [secret], behaviour: { failFirst: 1 } });
    await h.publishEndpoint({ endpointId: 'ep-flaky', controllerId: 'initech', url, secrets: [secret] });
    await h.publishStatus('initech', 'i-1');
    await eventually(20_000, () => expect(receiver.forEndpoint('initech-flaky')).toHaveLength(1));
    h.advance(7_000); // past the 5 s (+20 %) slot
    await eventually(10_000, () => expect(receiver.forEndpoint('initech-flaky')).toHaveLength(2));
    const got = receiver.forEndpoint('initech-flaky');
    expect(new Set(got.map((r) => r.webhookId)).size).toBe(1);
    expect(got[1]!.timestamp - got[0]!.timestamp).toBeGreaterThanOrEqual(6);
    expect(got.map((r) => [r.status, r.verified.standardwebhooks && r.verified.svix])).toEqual([
      [500, true],
      [200, true],
    ]);
    await eventually(5_000, async () =>
      expect(await deliveryTo('initech', 'i-1', 'ep-flaky')).toMatchObject({
        state: 'delivered',
        attempts: 2,
      }),
    );
    const stored = await deliveryTo('initech', 'i-1', 'ep-flaky');
    expect(await attemptsOf(stored!.webhookId)).toEqual([500, 200]);
  });

  it('a stored body that no longer decrypts (moved from another record) is dead-lettered with the reason, not retried', async () => {
    const secret = newSecret();
    const url = receiver.endpoint('initech-moved', { secrets: [secret], behaviour: { failFirst: 1 } });
    await h.publishEndpoint({ endpointId: 'ep-moved', controllerId: 'initech', url, secrets: [secret] });
    await h.publishStatus('initech', 'mv-1');
    await h.publishStatus('initech', 'mv-2');
    const onEndpoint = (messageId: string) => deliveryTo('initech', messageId, 'ep-moved');
    await eventually(20_000, async () => {
      for (const m of ['mv-1', 'mv-2'])
        expect(await onEndpoint(m)).toMatchObject({ state: 'pending', attempts: 1 });
    });
    const [moved, source] = [await onEndpoint('mv-1'), await onEndpoint('mv-2')];
    // Ciphertext copied from another delivery: its associated data names the other webhook-id.
    await h.db.query('UPDATE webhook_deliveries SET body = $1 WHERE webhook_id = $2', [
      source!.body,
      moved!.webhookId,
    ]);
    h.advance(7_000); // past the 5 s (+20 %) slot
    await eventually(10_000, async () => {
      expect(await onEndpoint('mv-1')).toMatchObject({
        state: 'dead',
        attempts: 1,
        lastError: 'stored body cannot be decrypted',
      });
      expect(await onEndpoint('mv-2')).toMatchObject({ state: 'delivered', attempts: 2 });
    });
    // The moved one was attempted once (before the move), the other one twice.
    const statuses = (webhookId: string) =>
      receiver
        .forEndpoint('initech-moved')
        .filter((r) => r.webhookId === webhookId)
        .map((r) => r.status);
    expect(statuses(moved!.webhookId)).toEqual([500]);
    expect(statuses(source!.webhookId)).toEqual([500, 200]);
  });

  it('410 Gone disables the endpoint and tells the controller through its other endpoint', async () => {
    const ops = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-ops',
      controllerId: 'acme',
      url: receiver.endpoint('acme-ops', { secrets: [ops] }),
      secrets: [ops],
      eventTypes: ['endpoint.disabled', 'endpoint.failing', 'endpoint.recovered'],
    });
    const goneSecret = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-gone',
      controllerId: 'acme',
      url: receiver.endpoint('acme-gone', { secrets: [goneSecret], behaviour: { status: 410 } }),
      secrets: [goneSecret],
      eventTypes: ['message.sent'],
    });
    await h.publishStatus('acme', 'gone-1', { status: 'sent', statusSeq: 3 });
    await eventually(20_000, () =>
      expect(receiver.forEndpoint('acme-ops').map((r) => JSON.parse(r.body).type)).toContain(
        'endpoint.disabled',
      ),
    );
    const notice = receiver
      .forEndpoint('acme-ops')
      .map((r) => JSON.parse(r.body))
      .find((b) => b.type === 'endpoint.disabled');
    expect(notice.data).toMatchObject({ endpointId: 'ep-gone', reason: 'gone' });
    expect(await h.webhooks.store.health('ep-gone')).toMatchObject({
      state: 'disabled',
      disabledReason: 'gone',
    });
    // Disabled: later statuses are stored for it but held (dead, never attempted) for a recovery.
    await h.publishStatus('acme', 'gone-2', { status: 'sent', statusSeq: 3 });
    await eventually(20_000, async () =>
      expect((await deliveriesOf('acme', 'gone-2')).find((d) => d.endpointId === 'ep-gone')).toMatchObject({
        state: 'dead',
        attempts: 0,
        lastError: 'endpoint disabled',
      }),
    );
    expect(receiver.forEndpoint('acme-gone')).toHaveLength(1);
    // The customer fixes it and the control plane publishes a new revision: deliveries resume.
    receiver.setBehaviour('acme-gone', null);
    await h.publishEndpoint({
      endpointId: 'ep-gone',
      controllerId: 'acme',
      url: receiver.endpoint('acme-gone', { secrets: [goneSecret] }),
      secrets: [goneSecret],
      eventTypes: ['message.sent'],
      revision: 2,
    });
    await h.publishStatus('acme', 'gone-3', { status: 'sent', statusSeq: 3 });
    await eventually(20_000, () => expect(receiver.forEndpoint('acme-gone')).toHaveLength(2));
    await eventually(10_000, () =>
      expect(receiver.forEndpoint('acme-ops').map((r) => JSON.parse(r.body).type)).toContain(
        'endpoint.recovered',
      ),
    );
  });

  it('a redirect is a failed attempt and is never followed', async () => {
    const secret = newSecret();
    const target = receiver.endpoint('redirect-target', { secrets: [secret] });
    await h.publishEndpoint({
      endpointId: 'ep-redirect',
      controllerId: 'globex',
      url: receiver.endpoint('globex-redirect', { secrets: [secret], behaviour: { redirectTo: target } }),
      secrets: [secret],
      eventTypes: ['message.queued'],
    });
    await h.publishStatus('globex', 'r-1', { status: 'queued', statusSeq: 2 });
    await eventually(20_000, async () => {
      const d = await deliveryTo('globex', 'r-1', 'ep-redirect');
      expect(d && (await attemptsOf(d.webhookId))).toEqual([302]);
    });
    expect(receiver.forEndpoint('redirect-target')).toHaveLength(0);
    const d = await deliveryTo('globex', 'r-1', 'ep-redirect');
    expect(d).toMatchObject({ state: 'pending', lastError: 'HTTP 302' });
  });

  it.each([
    ['loopback outside the allow-list', 'https://127.0.0.2:9/hook'],
    ['a private address', 'https://192.168.1.10/hook'],
    ['link-local cloud metadata', 'https://169.254.169.254/latest/meta-data/'],
    ['an IPv4-mapped IPv6 private address', 'https://[::ffff:10.0.0.1]/hook'],
    ['a host name resolving to a private address', 'https://internal.example.com/hook'],
  ])('SSRF: %s is refused at delivery time, before connecting', async (_l, url) => {
    const endpointId = `ep-ssrf-${Buffer.from(url).toString('hex').slice(-12)}`;
    await h.publishEndpoint({
      endpointId,
      controllerId: 'globex',
      url,
      secrets: [newSecret()],
      eventTypes: ['message.rejected'],
    });
    const messageId = `ssrf-${endpointId}`;
    await h.publishStatus('globex', messageId, {
      status: 'rejected',
      statusSeq: 1,
      errorCode: 'SMS_INVALID_RECIPIENT',
    });
    await eventually(20_000, async () => {
      const mine = await deliveryTo('globex', messageId, endpointId);
      expect(mine && (await h.webhooks.store.attempts([mine.webhookId]))).toEqual([
        expect.objectContaining({
          errorClass: 'ssrf_refused',
          httpStatus: null,
          responseExcerpt: 'non_public_address',
        }),
      ]);
    });
  });

  // Last: it moves the clock by days, which makes signatures stale for the receiver.
  it('the retry schedule runs on the clock (0, 5 s, 5 min, …), then the delivery is dead-lettered with the reason', async () => {
    await h.publishEndpoint({
      endpointId: 'ep-down',
      controllerId: 'initech',
      url: 'http://127.0.0.1:9/hook', // nothing listens: connection refused
      secrets: [newSecret()],
      eventTypes: ['message.expired'],
    });
    await h.publishStatus('initech', 'i-down', { status: 'expired' });
    const attemptsMade = async () => (await deliveryTo('initech', 'i-down', 'ep-down'))?.attempts;
    await eventually(20_000, async () => expect(await attemptsMade()).toBe(1));
    h.advance(3_000); // before the 5 s slot (−20 % = 4 s)
    await new Promise((r) => setTimeout(r, 400));
    expect(await attemptsMade()).toBe(1);
    h.advance(4_000);
    await eventually(10_000, async () => expect(await attemptsMade()).toBe(2));
    h.advance(3 * 60_000); // before the 5 min slot (−20 % = 4 min)
    await new Promise((r) => setTimeout(r, 400));
    expect(await attemptsMade()).toBe(2);
    h.advance(4 * 60_000);
    await eventually(10_000, async () => expect(await attemptsMade()).toBe(3));
    for (let attempt = 4; attempt <= 8; attempt++) {
      h.advance(13 * 3_600_000); // beyond any slot (10 h + 20 %)
      await eventually(10_000, async () => expect(await attemptsMade()).toBe(attempt));
    }
    const dead = await deliveryTo('initech', 'i-down', 'ep-down');
    expect(dead).toMatchObject({ state: 'dead', lastError: 'gave up after 8 attempts; last: connect' });
    expect(await attemptsOf(dead!.webhookId)).toEqual(Array(8).fill('connect'));
    h.advance(13 * 3_600_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await attemptsMade()).toBe(8);
  });
});
