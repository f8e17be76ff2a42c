import { eventually } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookRecovery } from '../src/recovery.ts';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// Endpoint health: the controller hears through its other endpoint when one starts failing and when
// it is disabled after failing continuously (here after 1 minute of the service's clock).
describe('endpoint health (real Kafka and PostgreSQL)', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startWebhooksHarness({ worker: { disableAfterMs: 60_000 } });
    await h.publishController('acme');
    const ops = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-ops',
      controllerId: 'acme',
      url: receiver.endpoint('ops', { secrets: [ops] }),
      secrets: [ops],
      eventTypes: ['endpoint.failing', 'endpoint.disabled', 'endpoint.recovered'],
    });
    await h.publishEndpoint({
      endpointId: 'ep-dead',
      controllerId: 'acme',
      url: 'http://127.0.0.1:9/hook', // nothing listens
      secrets: [newSecret()],
      eventTypes: ['message.delivered'],
    });
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  const notices = () =>
    receiver
      .forEndpoint('ops')
      .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> });

  it('failing is announced at the first failure; continuous failure disables the endpoint and its queue', async () => {
    await h.publishStatus('acme', 'h-1');
    await h.publishStatus('acme', 'h-2');
    await eventually(20_000, () => expect(notices().map((n) => n.type)).toEqual(['endpoint.failing']));
    expect(notices()[0]?.data).toMatchObject({ endpointId: 'ep-dead', url: 'http://127.0.0.1:9/hook' });
    expect(await h.webhooks.store.health('ep-dead')).toMatchObject({ state: 'failing' });
    h.advance(90_000); // past the 5 s retry slot and the 1 minute of continuous failure
    await eventually(20_000, () =>
      expect(notices().map((n) => n.type)).toEqual(['endpoint.failing', 'endpoint.disabled']),
    );
    expect(notices()[1]?.data).toMatchObject({ endpointId: 'ep-dead', reason: 'continuous_failure' });
    // What was still queued for it is dead-lettered with the reason, not retried forever.
    h.advance(10 * 60_000);
    await eventually(20_000, async () => {
      const states = await Promise.all(
        ['h-1', 'h-2'].map(async (m) => (await h.webhooks.store.forMessage('acme', m))[0]?.state),
      );
      expect(states).toEqual(['dead', 'dead']);
    });
    // A status that comes while it is disabled is stored, held (dead, never attempted), not dropped.
    await h.publishStatus('acme', 'h-3');
    await eventually(20_000, async () =>
      expect(await h.webhooks.store.forMessage('acme', 'h-3')).toEqual([
        expect.objectContaining({ state: 'dead', attempts: 0, lastError: 'endpoint disabled' }),
      ]),
    );
    // The customer fixes the endpoint (a new revision) and recovers it: all three arrive, h-3 included.
    const fixed = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-dead',
      controllerId: 'acme',
      url: receiver.endpoint('fixed', { secrets: [fixed] }),
      secrets: [fixed],
      eventTypes: ['message.delivered'],
      revision: 2,
    });
    const recovery = new WebhookRecovery(h.db, () => new Date(Date.now() + 11 * 60_000));
    expect(await recovery.recover('acme', 'ep-dead', new Date(0))).toBe(3);
    await eventually(20_000, () =>
      expect(
        receiver
          .forEndpoint('fixed')
          .map((r) => (JSON.parse(r.body) as { data: { messageId: string } }).data.messageId)
          .sort(),
      ).toEqual(['h-1', 'h-2', 'h-3']),
    );
  });
});
