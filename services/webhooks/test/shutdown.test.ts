import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// Stopping the service while an endpoint hangs: the shutdown is bounded, not one attempt timeout long.
describe('webhooks shutdown with an attempt in flight (real Kafka and PostgreSQL)', () => {
  let h: WebhooksHarness;
  let server: http.Server;
  let url: string;
  let answer: 'hang' | 204 = 'hang';
  const seen: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(String(req.headers['webhook-id']));
      req.resume();
      if (answer !== 'hang') res.writeHead(answer).end();
      // else: never answer (a dead endpoint that accepted the connection)
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    // An attempt may take 30 s: far longer than a shutdown may.
    h = await startWebhooksHarness({ worker: { attemptTimeoutMs: 30_000 } });
    await h.publishController('acme');
  });
  afterAll(async () => {
    await h?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('stop() cuts a hanging attempt short, records no failure, and the next start delivers it under the same webhook-id', async () => {
    const secret = newSecret();
    await h.publishEndpoint({ endpointId: 'ep-hang', controllerId: 'acme', url, secrets: [secret] });
    await h.publishStatus('acme', 'm-hang');
    await eventually(20_000, () => expect(seen).toHaveLength(1));

    const started = performance.now();
    await h.stopService();
    const stopMs = performance.now() - started;
    // A few seconds of grace for attempts in flight, not the 30 s attempt timeout.
    expect(stopMs).toBeLessThan(8_000);

    const [delivery] = await h.webhooks.store.forMessage('acme', 'm-hang');
    expect(delivery).toMatchObject({ state: 'pending', attempts: 0, lastError: null });
    expect(delivery!.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await h.webhooks.store.attempts([delivery!.webhookId])).toEqual([]);

    answer = 204;
    await h.startService();
    await eventually(20_000, async () =>
      expect((await h.webhooks.store.forMessage('acme', 'm-hang'))[0]).toMatchObject({
        state: 'delivered',
        attempts: 1,
      }),
    );
    expect(seen).toEqual([delivery!.webhookId, delivery!.webhookId]);
  });
});
