import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DispatcherHarness, startDispatcherHarness } from './harness.ts';

// One partition's batch is claimed and sent chunk by chunk; a slow carrier call must not hold
// back the chunks behind it, and each outcome is announced as soon as it is stored.
describe('dispatcher pipelining (real Kafka and PostgreSQL)', () => {
  let h: DispatcherHarness;

  beforeAll(async () => {
    // A long carrier bound: the held call below stays unanswered for the whole test.
    h = await startDispatcherHarness({ partitions: 1, carrierTimeoutMs: 60_000 });
    await h.publishController('acme', ['telnyx']);
  });
  afterAll(() => h.close());

  it('while one call of the first chunk waits for the carrier, the next chunks are claimed, sent and announced', async () => {
    // The first request the carrier sees is accepted and never answered.
    h.telnyx.faults.next({ timeoutAfterAccept: true });
    const ids = Array.from({ length: 25 }, (_, i) => `pipe-${i}`);
    // One produce: the records reach the dispatcher as one batch of its only partition.
    const records = await Promise.all(
      ids.map((id, i) => h.dispatchRecord('acme', id, `+1415555${String(3000 + i)}`)),
    );
    await h.bus.producer().send(records);
    // Every message reached the carrier and all but the held one are announced, while the held call
    // is still waiting (without pipelining, nothing after its chunk is claimed before it ends).
    await eventually(20_000, () => {
      expect(ids.filter((id) => h.telnyx.ledger.countForCallbackId(id) === 1)).toHaveLength(ids.length);
      expect(ids.filter((id) => h.statusOf(id).some((s) => s.status === 'queued'))).toHaveLength(
        ids.length - 1,
      );
    });
    // Cut the held call: it ends ambiguous (never resent), so every message has one outcome.
    await h.telnyx.close();
    await eventually(20_000, () => expect(ids.filter((id) => h.statusOf(id).length === 0)).toEqual([]));
    expect(ids.reduce((n, id) => n + h.telnyx.ledger.countForCallbackId(id), 0)).toBe(ids.length);
  });
});
