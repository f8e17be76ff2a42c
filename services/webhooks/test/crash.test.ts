import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { eventually, freePort } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const MESSAGES = 1_000;

// Kill the real `massivesms webhooks` process (SIGKILL) in the middle of a run and start it again:
// every status becomes exactly one delivery with one webhook-id, and every one of them arrives.
describe('crash: SIGKILL the webhooks service mid-run, restart it', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;
  let child: ChildProcess | undefined;
  /** Kept across restarts; asked of the OS so it is free. */
  let port: number;

  const start = (): ChildProcess =>
    spawn(process.execPath, [cli, 'webhooks'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: h.topics.brokers.join(','),
        DATABASE_URL: `${h.schema.url}?options=${encodeURIComponent(`-c search_path=${h.schema.schema}`)}`,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        KMS_MASTER_KEY: h.masterKey,
        TOPIC_NAMESPACE: h.topics.namespace,
        WEBHOOKS_ALLOWLIST: '127.0.0.1',
        WEBHOOKS_ATTEMPT_TIMEOUT_MS: '1000',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });

  beforeAll(async () => {
    port = await freePort();
    receiver = await startWebhookReceiver();
    h = await startWebhooksHarness({ inProcess: false });
    await h.publishController('acme');
    const secret = newSecret();
    await h.publishEndpoint({
      endpointId: 'ep-crash',
      controllerId: 'acme',
      url: receiver.endpoint('crash', { secrets: [secret], behaviour: { hangMs: 5 } }),
      secrets: [secret],
    });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await receiver.close();
    await h.close();
  });

  it('loses no delivery and never gives one status a second webhook-id', async () => {
    child = start();
    for (let i = 0; i < MESSAGES; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, k) => h.publishStatus('acme', `crash-${i + k}`)));
    await eventually(60_000, () =>
      expect(receiver.summary().byEndpoint.crash?.delivered ?? 0).toBeGreaterThan(150),
    );
    child.kill('SIGKILL');
    await once(child, 'exit');
    const beforeRestart = receiver.summary().byEndpoint.crash?.delivered ?? 0;
    expect(beforeRestart).toBeLessThan(MESSAGES); // killed mid-run, not after
    child = start();
    await eventually(120_000, () => expect(receiver.summary().byEndpoint.crash?.delivered).toBe(MESSAGES));
    // One webhook-id per status: a message never arrives under two ids (a retry keeps its id).
    const idsPerMessage = new Map<string, Set<string>>();
    for (const r of receiver.forEndpoint('crash')) {
      const messageId = (JSON.parse(r.body) as { data: { messageId: string } }).data.messageId;
      idsPerMessage.set(messageId, (idsPerMessage.get(messageId) ?? new Set()).add(r.webhookId));
    }
    expect(idsPerMessage.size).toBe(MESSAGES);
    expect([...idsPerMessage.values()].every((ids) => ids.size === 1)).toBe(true);
    // The receiver answers before the attempt is recorded: wait for the last records.
    await eventually(20_000, async () => {
      const { rows } = await h.db.query<{ n: string; delivered: string }>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE state = 'delivered') AS delivered FROM webhook_deliveries`,
      );
      expect(rows[0]).toEqual({ n: String(MESSAGES), delivered: String(MESSAGES) });
    });
    // A clean stop once it is ready: drains and exits 0.
    await eventually(30_000, async () =>
      expect((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status).toBe(200),
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(
      /^webhooks_attempts_total\{outcome="delivered",error_class="none"[^}]*\} [1-9]\d*$/m,
    );
    expect(metrics).toMatch(/^webhooks_queue_depth\{state="pending"[^}]*\} 0$/m);
    expect(metrics).toMatch(
      /^webhooks_delivery_lag_seconds_count\{[^}]*outcome="delivered"[^}]*\} [1-9]\d*$/m,
    );
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  }, 240_000);
});
