import { eventually } from '@massivesms/testkit';
import { WebhookRecovery } from '@massivesms/webhooks/recovery';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type FaultPipeline, startFaultPipeline } from './pipeline.ts';

// Fault: acme's webhook endpoint answers 503 for the whole run, long enough for the webhooks
// service to disable it (WEBHOOKS_DISABLE_AFTER_MS at its minimum, 1 minute), and statuses keep
// coming while it is disabled; then it is back: the customer updates the endpoint (a new revision)
// and recovers it, as control's API does. Every terminal status must reach it then, under the
// webhook-id it was first tried with.
describe('fault injection: a customer endpoint down for the whole run, then back', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline({ env: { WEBHOOKS_DISABLE_AFTER_MS: '60000' } });
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  const count = async (sql: string) => Number((await p.db.query<{ n: string }>(sql)).rows[0]!.n);

  it('every terminal status reaches the endpoint once it is recovered; solo’s arrive meanwhile', {
    timeout: 300_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    const since = new Date();
    p.receiver.setBehaviour('acme', { status: 503 });
    await p.produce('down', 60);
    await p.produce('down-solo', 20, 'solo');
    await p.awaitTerminalWebhooks(20, 60_000); // solo's endpoint is fine
    // Traffic goes on (a few messages every 5 s) until the endpoint has failed for a minute and
    // the webhooks service disables it at one of these attempts.
    let trickle = 0;
    const disabled = () =>
      count(
        `SELECT count(*) AS n FROM webhook_endpoint_health WHERE endpoint_id = 'ep_acme' AND state = 'disabled'`,
      );
    for (let round = 0; round < 30 && (await disabled()) === 0; round++) {
      await p.produce(`trickle-${round}`, 2);
      trickle += 2;
      await new Promise((r) => setTimeout(r, 5_000));
    }
    expect(await disabled()).toBe(1);
    // Statuses that come while it is disabled are stored, held for a recovery.
    await p.produce('disabled', 30);
    await eventually(60_000, async () =>
      expect(
        await count(`SELECT count(DISTINCT message_id) AS n FROM webhook_deliveries
                      WHERE message_id LIKE 'disabled-%' AND event_type IN ('message.delivered', 'message.failed')`),
      ).toBe(30),
    );
    expect(p.terminalWebhooks()).toBe(20);

    // Back: fixed, updated (revision 2), recovered. A recovery that reaches the worker before the
    // new revision does is dead-lettered again, so the customer recovers again: bounded rounds.
    p.receiver.setBehaviour('acme', null);
    await p.republishEndpoint('acme');
    const recovery = new WebhookRecovery(p.db);
    for (let round = 0; round < 10 && p.terminalWebhooks() < 110 + trickle; round++) {
      await recovery.recover('acme', 'ep_acme', since);
      await eventually(30_000, async () =>
        expect(
          await count(
            `SELECT count(*) AS n FROM webhook_deliveries WHERE endpoint_id = 'ep_acme' AND state = 'pending'`,
          ),
        ).toBe(0),
      );
    }
    await p.awaitTerminalWebhooks(110 + trickle, 10_000);
    const report = await p.check();
    expect(report.violations, p.formatReport(report)).toEqual([]);
    expect(report.checked.requests).toBe(110 + trickle);
  });
});
