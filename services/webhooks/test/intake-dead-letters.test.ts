import { randomUUID } from 'node:crypto';
import {
  consumerGroup,
  encodeJson,
  type StatusEvent,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { deadLetterHeaders, type IncomingRecord } from '@massivesms/messaging';
import { encryptField, type Kms, toControllerId } from '@massivesms/privacy';
import { eventually } from '@massivesms/testkit';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

/** Controllers whose key unwraps fail: `broken` always, `flaky` for its first `flakyFailures` calls. */
const kmsFaults = { flakyFailures: 2, flakyCalls: 0 };
function faultyKms(kms: Kms): Kms {
  return {
    generateDataKey: (controllerId) => kms.generateDataKey(controllerId),
    signingKey: (purpose) => kms.signingKey(purpose),
    async unwrap(controllerId, wrapped) {
      if (controllerId === 'broken') throw new Error('connect ETIMEDOUT kms.internal:443');
      if (controllerId === 'flaky' && ++kmsFaults.flakyCalls <= kmsFaults.flakyFailures) {
        throw new Error('503 Service Unavailable');
      }
      return kms.unwrap(controllerId, wrapped);
    },
  };
}

// A status the intake cannot process must not stall its partition (issue 10, item 6): real Kafka
// and PostgreSQL, a receiver that verifies each webhook, a KMS that fails for chosen controllers.
describe('webhooks intake: records it cannot process go to the dead-letter topic, the partition moves on', () => {
  let h: WebhooksHarness;
  let receiver: WebhookReceiver;
  const deadLetters: IncomingRecord[] = [];
  const statuses: IncomingRecord[] = [];
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, h.topics.namespace);

  /** Produces statuses under one Kafka key, so they share a partition, in this order. */
  const produce = (events: StatusEvent[]) =>
    h.bus.producer().send(
      events.map((e) => ({
        topic: topic('sms.status.v1'),
        key: 'one-partition',
        value: encodeJson(statusEventSchema, e),
      })),
    );
  const status = async (
    controllerId: string,
    messageId: string,
    sealedFor = messageId,
  ): Promise<StatusEvent> => {
    const keys = await h.keyring.get(toControllerId(controllerId));
    return {
      eventId: randomUUID(),
      messageId,
      controllerId,
      campaignId: 'c1',
      region: 'us',
      status: 'delivered',
      statusSeq: 4,
      carrier: 'telnyx',
      segments: 1,
      recipient: encryptField(keys.dataKey, '+14155552671', {
        controllerId: toControllerId(controllerId),
        recordId: sealedFor,
        field: 'to',
      }),
      occurredAt: new Date().toISOString(),
    };
  };
  const subscribe = async (controllerId: string) => {
    const secret = newSecret();
    const url = receiver.endpoint(controllerId, { secrets: [secret] });
    await h.publishEndpoint({ endpointId: `ep-${controllerId}`, controllerId, url, secrets: [secret] });
  };
  const received = (controllerId: string) =>
    receiver
      .forEndpoint(controllerId)
      .map((r) => (JSON.parse(r.body) as { data: { messageId: string } }).data.messageId);
  const sourceOf = (eventId: string) => statuses.find((r) => r.value?.toString().includes(eventId));

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startWebhooksHarness({
      kms: faultyKms,
      intake: { maxAttempts: 3, retryBackoffMs: { initial: 50, max: 200 } },
    });
    await h.bus.readFromStart({
      topics: [topic('deadletter.v1')],
      onRecords: (r) => void deadLetters.push(...r),
    });
    await h.bus.readFromStart({
      topics: [topic('sms.status.v1')],
      onRecords: (r) => void statuses.push(...r),
    });
    for (const c of ['acme', 'flaky', 'broken']) {
      await h.publishController(c);
      await subscribe(c);
    }
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  it('a status whose recipient does not decrypt is dead-lettered at once with its reason; the statuses behind it are delivered', async () => {
    const poison = await status('acme', 'poison-1', 'another-message'); // sealed for another record
    const good = [await status('acme', 'good-1'), await status('acme', 'good-2')];
    await produce([poison, ...good]);

    await eventually(30_000, () => expect(received('acme').sort()).toEqual(['good-1', 'good-2']));
    await eventually(10_000, () =>
      expect(deadLetters.map((r) => r.headers[deadLetterHeaders.code])).toContain('PRIVACY_DECRYPT_FAILED'),
    );
    const dead = deadLetters.find((r) => r.headers[deadLetterHeaders.code] === 'PRIVACY_DECRYPT_FAILED')!;
    const source = sourceOf(poison.eventId)!;
    expect(dead.value).toEqual(source.value); // the original bytes: ciphertext, no plaintext number
    expect(dead.headers).toMatchObject({
      [deadLetterHeaders.topic]: topic('sms.status.v1'),
      [deadLetterHeaders.partition]: String(source.partition),
      [deadLetterHeaders.offset]: source.offset,
      [deadLetterHeaders.groupId]: consumerGroup('webhooks', 'us', h.topics.namespace),
      [deadLetterHeaders.attempts]: '1',
      [deadLetterHeaders.retryable]: 'false',
    });
    expect(dead.headers[deadLetterHeaders.reason]).toContain('poison-1');
    expect(JSON.stringify(dead.headers)).not.toContain('4155552671');
    expect(await h.webhooks.store.forMessage('acme', 'poison-1')).toEqual([]);
  });

  it('a key service that fails for a while is retried with backoff: the status is delivered, not dead-lettered', async () => {
    const event = await status('flaky', 'flaky-1');
    await produce([event]);
    await eventually(30_000, () => expect(received('flaky')).toEqual(['flaky-1']));
    expect(kmsFaults.flakyCalls).toBeGreaterThan(kmsFaults.flakyFailures);
    expect(deadLetters.filter((r) => r.value?.toString().includes(event.eventId))).toEqual([]);
  });

  it('a key service that keeps failing for a controller dead-letters its status after the bounded attempts; others go through', async () => {
    const stuck = await status('broken', 'broken-1');
    const after = await status('acme', 'after-broken');
    await produce([stuck, after]);

    await eventually(30_000, () => expect(received('acme')).toContain('after-broken'));
    await eventually(10_000, () =>
      expect(
        deadLetters.find((r) => r.headers[deadLetterHeaders.code] === 'PRIVACY_KEYS_UNAVAILABLE'),
      ).toBeDefined(),
    );
    const dead = deadLetters.find((r) => r.headers[deadLetterHeaders.code] === 'PRIVACY_KEYS_UNAVAILABLE')!;
    const source = sourceOf(stuck.eventId)!;
    expect(dead.value).toEqual(source.value);
    expect(dead.headers).toMatchObject({
      [deadLetterHeaders.offset]: source.offset,
      [deadLetterHeaders.attempts]: '3',
      [deadLetterHeaders.retryable]: 'true',
    });
    expect(dead.headers[deadLetterHeaders.reason]).toContain('broken');
    expect(received('broken')).toEqual([]);
  });
});
