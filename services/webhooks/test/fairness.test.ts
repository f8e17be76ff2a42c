import { eventually } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// Fairness and concurrency of the work queue (real Kafka and PostgreSQL).
describe('a slow endpoint never holds up the others; side-by-side workers never double up', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    // Attempts may last longer than the hang, so the slow endpoint really holds its slots for 30 s.
    h = await startWebhooksHarness({
      worker: { attemptTimeoutMs: 40_000, perEndpointConcurrency: 2, maxInFlight: 16 },
    });
    for (const c of ['slowco', 'fastco', 'busyco']) await h.publishController(c);
  });
  afterAll(async () => {
    await receiver.close(); // cuts the hanging requests
    await h.close();
  });

  it('a receiver that hangs for 30 s does not delay another controller’s deliveries', async () => {
    const slow = newSecret();
    const fast = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-slow',
      controllerId: 'slowco',
      url: receiver.endpoint('slow', { secrets: [slow], behaviour: { hangMs: 30_000 } }),
      secrets: [slow],
    });
    await h.publishEndpoint({
      endpointId: 'ep-fast',
      controllerId: 'fastco',
      url: receiver.endpoint('fast', { secrets: [fast] }),
      secrets: [fast],
    });
    for (let i = 0; i < 20; i++) await h.publishStatus('slowco', `slow-${i}`);
    const publishedAt = Date.now();
    await h.publishStatus('fastco', 'fast-1');
    await eventually(10_000, () => expect(receiver.forEndpoint('fast')).toHaveLength(1));
    expect(Date.now() - publishedAt).toBeLessThan(30_000); // the slow endpoint's hangs are still running
    expect(receiver.forEndpoint('fast')[0]?.verified).toEqual({ standardwebhooks: true, svix: true });
    // The slow endpoint holds at most its concurrency limit: the rest wait in the queue, leased by nobody.
    const { rows } = await h.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = 'ep-slow' AND lease_until IS NOT NULL`,
    );
    expect(Number(rows[0]?.n)).toBeLessThanOrEqual(2);
  });

  it('two service instances on one queue deliver each webhook once (leases), and all of them', async () => {
    const secret = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-busy',
      controllerId: 'busyco',
      url: receiver.endpoint('busy', { secrets: [secret], behaviour: { hangMs: 20 } }),
      secrets: [secret],
    });
    await h.startAnother();
    const count = 200;
    for (let i = 0; i < count; i++) await h.publishStatus('busyco', `busy-${i}`);
    await eventually(60_000, () => expect(receiver.summary().byEndpoint.busy?.delivered).toBe(count));
    const got = receiver.forEndpoint('busy');
    expect(got).toHaveLength(count); // no webhook-id was sent twice
    expect(got.every((r) => r.status === 200 && r.verified.standardwebhooks)).toBe(true);
  });
});
