import { randomUUID } from 'node:crypto';
import { encodeJson, topicFor, type WebhookCommand, webhookCommandSchema } from '@massivesms/contracts';
import { deadLetterHeaders, type IncomingRecord } from '@massivesms/messaging';
import { encryptField, toControllerId } from '@massivesms/privacy';
import { eventually } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyContext } from '../src/application/intake.ts';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// The control plane's resend and recover commands, on real Kafka and PostgreSQL: carried out once per
// command id, scoped to the controller named, delivered by the worker afterwards; a command that
// cannot be carried out goes to the dead-letter topic and the partition moves on.
describe('webhooks commands ({cell}.webhooks.commands.v1)', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;
  const deadLetters: IncomingRecord[] = [];
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, h.topics.namespace);
  const MINUTE = 60_000;

  /** A delivery stored dead (held: its endpoint was disabled), its body sealed as intake seals it. */
  async function held(controllerId: string, endpointId: string, messageId: string): Promise<string> {
    const webhookId = `msg_${randomUUID()}`;
    const keys = await h.keyring.get(toControllerId(controllerId));
    const body = JSON.stringify({ type: 'message.delivered', data: { messageId } });
    const sealed = encryptField(keys.dataKey, body, bodyContext(controllerId, webhookId));
    const stored = await h.webhooks.store.insert(
      [
        {
          webhookId,
          endpointId,
          controllerId,
          messageId,
          eventType: 'message.delivered',
          body: sealed,
          held: 'endpoint disabled',
        },
      ],
      new Date(Date.now() - 10 * MINUTE),
    );
    expect(stored).toBe(1);
    return webhookId;
  }

  const base = (controllerId: string, endpointId: string) => ({
    commandId: `cmd_${randomUUID()}`,
    controllerId,
    region: 'us' as const,
    requestedBy: 'tok_test',
    requestedAt: new Date().toISOString(),
    endpointId,
    endpointRevision: 1,
  });
  /** Produces commands (or raw values) under one key: one partition, in this order. */
  const produce = (values: (WebhookCommand | string)[]) =>
    h.bus.producer().send(
      values.map((v) => ({
        topic: topic('webhooks.commands.v1'),
        key: 'one-partition',
        value: typeof v === 'string' ? v : encodeJson(webhookCommandSchema, v),
      })),
    );
  const outcomeOf = async (controllerId: string, commandId: string) => {
    let found: Awaited<ReturnType<WebhooksHarness['webhooks']['commands']['outcome']>>;
    await eventually(20_000, async () => {
      found = await h.webhooks.commands.outcome(controllerId, commandId);
      expect(found).toBeDefined();
    });
    return found!;
  };
  const received = (name: string) =>
    receiver
      .forEndpoint(name)
      .map((r) => (JSON.parse(r.body) as { data: { messageId: string } }).data.messageId)
      .sort();

  beforeAll(async () => {
    h = await startWebhooksHarness();
    receiver = await startWebhookReceiver();
    await h.bus.readFromStart({
      topics: [topic('deadletter.v1')],
      onRecords: (r) => void deadLetters.push(...r),
    });
    for (const id of ['acme', 'globex']) await h.publishController(id);
    for (const [endpointId, controllerId] of [
      ['ep-acme', 'acme'],
      ['ep-globex', 'globex'],
    ] as const) {
      const secret = newSecret();
      await h.publishEndpoint({
        endpointId,
        controllerId,
        url: receiver.endpoint(endpointId, { secrets: [secret] }),
        secrets: [secret],
        eventTypes: ['message.delivered'],
      });
    }
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  it('recovers the dead deliveries once per command id, and the worker delivers them', async () => {
    await held('acme', 'ep-acme', 'rec-1');
    await held('acme', 'ep-acme', 'rec-2');
    const globexDead = await held('globex', 'ep-globex', 'rec-globex');
    const recover: WebhookCommand = {
      kind: 'recover',
      ...base('acme', 'ep-acme'),
      since: new Date(0).toISOString(),
    };
    await produce([recover]);
    expect(await outcomeOf('acme', recover.commandId)).toMatchObject({
      kind: 'recover',
      outcome: 'done',
      requeued: 2,
      reason: null,
    });
    await eventually(20_000, () => expect(received('ep-acme')).toEqual(['rec-1', 'rec-2']));
    // The same command again (a redelivery), then a new one: the first takes effect once.
    const again: WebhookCommand = {
      kind: 'recover',
      ...base('acme', 'ep-acme'),
      since: new Date(0).toISOString(),
    };
    await held('acme', 'ep-acme', 'rec-3');
    await produce([recover, again]);
    expect(await outcomeOf('acme', again.commandId)).toMatchObject({ outcome: 'done', requeued: 1 });
    expect(await h.webhooks.commands.outcome('acme', recover.commandId)).toMatchObject({ requeued: 2 });
    // Another controller's command outcome is not this one's; its dead delivery stayed dead.
    expect(await h.webhooks.commands.outcome('globex', recover.commandId)).toBeUndefined();
    expect((await h.webhooks.store.get(globexDead))?.state).toBe('dead');
    // One processing event per command carried out, naming who asked.
    await eventually(20_000, () => {
      const requeues = h.processing().filter((e) => e.operation === 'webhook.requeue');
      expect(requeues.map((e) => e.reason).sort()).toEqual(
        [
          `recover command ${recover.commandId}: endpoint ep-acme, requeued 2`,
          `recover command ${again.commandId}: endpoint ep-acme, requeued 1`,
        ].sort(),
      );
      expect(requeues.every((e) => e.actor === 'tok_test' && e.service === 'webhooks')).toBe(true);
    });
  });

  it("refuses to resend another controller's delivery, or one still pending", async () => {
    const acmeDead = await held('acme', 'ep-acme', 'res-1');
    const foreign: WebhookCommand = { kind: 'resend', ...base('globex', 'ep-acme'), webhookId: acmeDead };
    const own: WebhookCommand = { kind: 'resend', ...base('acme', 'ep-acme'), webhookId: acmeDead };
    const twice: WebhookCommand = { kind: 'resend', ...base('acme', 'ep-acme'), webhookId: acmeDead };
    await produce([foreign, own, twice]);
    expect(await outcomeOf('globex', foreign.commandId)).toMatchObject({
      outcome: 'refused',
      requeued: 0,
      reason: 'not_found',
    });
    expect(await outcomeOf('acme', own.commandId)).toMatchObject({ outcome: 'done', requeued: 1 });
    // Carried out right after the first: the delivery is queued (or already delivered, not dead).
    const second = await outcomeOf('acme', twice.commandId);
    expect(second.outcome === 'refused' ? second.reason : 'done').toMatch(/^(pending|done)$/);
    await eventually(20_000, () => expect(received('ep-acme')).toContain('res-1'));
  });

  it('dead-letters a command it cannot read or that names another region; the partition moves on', async () => {
    const after: WebhookCommand = {
      kind: 'recover',
      ...base('acme', 'ep-acme'),
      since: new Date().toISOString(),
    };
    await produce([
      'not json',
      { kind: 'recover', ...base('acme', 'ep-acme'), region: 'eu', since: new Date(0).toISOString() },
      after,
    ]);
    expect(await outcomeOf('acme', after.commandId)).toMatchObject({ outcome: 'done', requeued: 0 });
    await eventually(20_000, () =>
      expect(deadLetters.map((r) => r.headers[deadLetterHeaders.code]).sort()).toEqual([
        'CONTRACT_UNDECODABLE',
        'SMS_WRONG_REGION',
      ]),
    );
    const wrongRegion = deadLetters.find((r) => r.headers[deadLetterHeaders.code] === 'SMS_WRONG_REGION')!;
    expect(wrongRegion.headers[deadLetterHeaders.topic]).toBe(topic('webhooks.commands.v1'));
  });
});
