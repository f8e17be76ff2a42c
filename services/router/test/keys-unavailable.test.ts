import { consumerGroup, dispatchRecordSchema, rejectionSchema } from '@massivesms/contracts';
import { deadLetterHeaders } from '@massivesms/messaging';
import type { Kms } from '@massivesms/privacy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, type RouterHarness, request, startHarness } from './harness.ts';

/** Unwraps fail for `broken` always, and for `flaky` on its first `flakyFailures` calls. */
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

// The key service failing is not the request's fault (issue 10, item 6): a transient failure is
// retried, a key that stays unavailable is dead-lettered, and neither is answered as a rejection.
describe('router: controller keys the key service does not give (real Kafka and PostgreSQL)', () => {
  let h: RouterHarness;
  const dispatched = (messageId: string) =>
    h.read('sms.dispatch.v1').filter((r) => dispatchRecordSchema.parse(json(r)).messageId === messageId);
  const rejected = (messageId: string) =>
    h.read('sms.rejected.v1').filter((r) => rejectionSchema.parse(json(r)).messageId === messageId);
  const requested = (messageId: string) =>
    h.read('sms.requested.v1').find((r) => r.value?.toString().includes(`"${messageId}"`));
  /** Requests under one Kafka key share a partition, in this order. */
  const sendInOrder = (requests: object[]) =>
    h.bus.producer().send(
      requests.map((r) => ({
        topic: h.topic('sms.requested.v1'),
        key: 'one-partition',
        value: JSON.stringify(r),
      })),
    );

  beforeAll(async () => {
    h = await startHarness('us');
    for (const id of ['acme', 'flaky', 'broken']) await h.publishController({ id });
    await h.startRouter(undefined, {
      kms: faultyKms,
      routing: { maxAttempts: 3, retryBackoffMs: { initial: 50, max: 200 } },
    });
  });
  afterAll(() => h.close());

  it('a key service that fails for a while: the request is retried with backoff and dispatched, not rejected', async () => {
    await sendInOrder([request({ controllerId: 'flaky', messageId: 'flaky-1' })]);
    await eventually(20_000, () => expect(dispatched('flaky-1')).toHaveLength(1));
    expect(kmsFaults.flakyCalls).toBeGreaterThan(kmsFaults.flakyFailures);
    expect(rejected('flaky-1')).toEqual([]);
  });

  it('keys that stay unavailable: the request is dead-lettered after the bound without its value, the others are routed', async () => {
    await sendInOrder([
      request({ controllerId: 'broken', messageId: 'broken-1' }),
      request({ controllerId: 'acme', messageId: 'after-broken' }),
    ]);
    await eventually(20_000, () => expect(dispatched('after-broken')).toHaveLength(1));
    await eventually(10_000, () => expect(h.read('deadletter.v1')).toHaveLength(1));
    const [dead] = h.read('deadletter.v1');
    const source = requested('broken-1')!;
    // sms.requested.v1 holds the number and the body in plaintext: the dead letter keeps neither.
    expect(dead!.value).toBeNull();
    expect(dead!.headers).toMatchObject({
      [deadLetterHeaders.code]: 'PRIVACY_KEYS_UNAVAILABLE',
      [deadLetterHeaders.topic]: h.topic('sms.requested.v1'),
      [deadLetterHeaders.partition]: String(source.partition),
      [deadLetterHeaders.offset]: source.offset,
      [deadLetterHeaders.groupId]: consumerGroup('router', 'us', h.topics.namespace),
      [deadLetterHeaders.attempts]: '3',
      [deadLetterHeaders.retryable]: 'true',
      [deadLetterHeaders.value]: 'omitted',
    });
    expect(dead!.headers[deadLetterHeaders.reason]).toContain('broken');
    expect(JSON.stringify(dead)).not.toContain('7400123456');
    expect(rejected('broken-1')).toEqual([]);
    expect(dispatched('broken-1')).toEqual([]);
    // Not claimed: a replay after the fix routes it as if seen for the first time.
    const claims = await h.db.query('SELECT 1 FROM router_messages WHERE message_id = $1', ['broken-1']);
    expect(claims.rows).toEqual([]);
  });
});
