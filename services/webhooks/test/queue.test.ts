import { eventually } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// The queue apart from the deliveries (migration 0003): what the lease reads stays the size of what
// is pending, whatever the history, on a server without autovacuum (real Kafka and PostgreSQL).
describe('the delivery queue holds pending deliveries only, and the worker keeps it vacuumed', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;
  let vacuums = 0;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startWebhooksHarness({ worker: { queueVacuumEvery: 3 } });
    const store = h.webhooks.store;
    const vacuumQueue = store.vacuumQueue.bind(store);
    store.vacuumQueue = async () => {
      await vacuumQueue();
      vacuums++;
    };
    await h.publishController('acme');
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  it('a delivered or dead delivery leaves the queue with its last attempt; one waiting for a retry stays, due then', async () => {
    const ok = newSecret();
    const failing = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-ok',
      controllerId: 'acme',
      url: receiver.endpoint('ok', { secrets: [ok] }),
      secrets: [ok],
      eventTypes: ['message.delivered', 'message.failed'],
    });
    await h.publishEndpoint({
      endpointId: 'ep-failing',
      controllerId: 'acme',
      url: receiver.endpoint('failing', { secrets: [failing], behaviour: { status: 500 } }),
      secrets: [failing],
      eventTypes: ['message.failed'],
    });
    for (let i = 0; i < 7; i++) await h.publishStatus('acme', `q-${i}`);
    await h.publishStatus('acme', 'q-failed', { status: 'failed', statusSeq: 5 });

    const queue = () =>
      h.db.query<{ endpoint_id: string; first: boolean; due: Date; next_attempt_at: Date; state: string }>(
        `SELECT q.endpoint_id, q.first, q.due, d.next_attempt_at, d.state
           FROM webhook_queue q JOIN webhook_deliveries d USING (webhook_id)`,
      );
    await eventually(20_000, async () => {
      const { rows } = await h.db.query<{ endpoint_id: string; state: string; attempts: number }>(
        'SELECT endpoint_id, state, attempts FROM webhook_deliveries ORDER BY endpoint_id',
      );
      expect(rows.filter((r) => r.endpoint_id === 'ep-ok' && r.state === 'delivered')).toHaveLength(8);
      expect(rows.find((r) => r.endpoint_id === 'ep-failing')).toMatchObject({
        state: 'pending',
        attempts: 1,
      });
      // Only the retry is queued, as a retry, due when its delivery says.
      const { rows: queued } = await queue();
      expect(queued).toHaveLength(1);
      expect(queued[0]).toMatchObject({ endpoint_id: 'ep-failing', first: false, state: 'pending' });
      expect(queued[0]!.due).toEqual(queued[0]!.next_attempt_at);
    });
    // Eight deliveries left the queue: vacuumed every three.
    expect(vacuums).toBeGreaterThanOrEqual(2);
  });

  it('indexes no column of webhook_deliveries that an attempt changes (its updates stay HOT)', async () => {
    const { rows } = await h.db.query<{ column: string }>(
      `SELECT DISTINCT a.attname AS column
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
         JOIN pg_attribute a ON a.attrelid = c.oid
          AND (a.attnum = ANY(i.indkey)
               OR pg_get_expr(i.indpred, i.indrelid) LIKE '%' || a.attname || '%')
        WHERE c.relname = 'webhook_deliveries'`,
    );
    const indexed = rows.map((r) => r.column).sort();
    for (const changing of [
      'state',
      'attempts',
      'next_attempt_at',
      'lease_owner',
      'lease_until',
      'last_error',
      'finished_at',
    ])
      expect(indexed).not.toContain(changing);
  });
});
