import { MemoryBus } from '@massivesms/bus-memory';
import { processingEventSchema, statusEventSchema, topicFor } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { startOutboxRelay } from '@massivesms/outbox';
import { createTestSchema, eventually, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPATCHER_OUTBOX, PgDispatchStore } from '../src/adapters/pg-dispatch-store.ts';
import type { VerifiedReceipt } from '../src/application/apply-receipt.ts';
import { startReceiptApplier } from '../src/application/receipt-inbox.ts';
import { dispatcherMigrations } from '../src/dispatcher.ts';

// The receipt inbox on real PostgreSQL (the bus is in memory: only the published statuses matter).
describe('receipt inbox: answer the carrier once stored, apply behind it', () => {
  let schema: TestSchema;
  let db: Db;
  let store: PgDispatchStore;
  const bus = new MemoryBus();
  let clock = new Date('2026-11-26T10:00:00Z');

  beforeAll(async () => {
    schema = await createTestSchema('receipt_inbox');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, dispatcherMigrations);
    store = new PgDispatchStore(db);
    for (const name of ['sms.status.v1', 'suppressions.v1', 'audit.processing.v1'] as const)
      bus.createTopic(topicFor('us', name), 1);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  const receipt = (messageId: string, carrierMessageId: string, event: string): VerifiedReceipt => ({
    carrier: 'telnyx',
    controllerId: 'acme',
    messageId,
    carrierMessageId,
    dedupeKey: `telnyx:${event}`,
    mapping: { kind: 'status', status: 'delivered', suppress: false },
  });
  const deps = () => ({
    cell: 'us' as const,
    namespace: '',
    store,
    now: () => clock,
  });

  it('a taken receipt is held from other dispatchers, and taken again if its taker died', async () => {
    await store.enqueueReceipt('k-1', { a: 1 }, clock);
    expect(await store.enqueueReceipt('k-1', { a: 1 }, clock)).toBe(false); // the carrier retried: one row
    expect((await store.takeReceipts(10, clock, 60_000)).map((r) => r.dedupeKey)).toEqual(['k-1']);
    expect(await store.takeReceipts(10, clock, 60_000)).toEqual([]); // held
    clock = new Date(clock.getTime() + 61_000); // the taker crashed; the hold ran out
    expect(await store.takeReceipts(10, clock, 60_000)).toEqual([{ dedupeKey: 'k-1', receipt: { a: 1 } }]);
    await store.removeReceipts(['k-1']);
    expect(await store.takeReceipts(10, clock, 60_000)).toEqual([]);
  });

  it('the applier applies what the ingress parked: once, with its status event, and empties the inbox', async () => {
    const [row] = await store.claim(
      [
        {
          controllerId: 'acme',
          messageId: 'm-1',
          campaignId: 'c',
          carrier: 'telnyx',
          recipientPseudonym: 'ps_x',
          instruction: `acme-sms@1#${'d'.repeat(64)}`,
        },
      ],
      clock,
    );
    await store.advance(row!, { status: 'queued', carrierMessageId: 'tx-1' }, clock);
    const results: string[] = [];
    const applier = startReceiptApplier(deps(), { pollMs: 50, onResult: (_c, r) => results.push(r) });
    expect(await applier.accept(receipt('m-1', 'tx-1', 'e-1'))).toBe('queued');
    expect(await applier.accept(receipt('m-1', 'tx-1', 'e-1'))).toBe('duplicate'); // still waiting
    await eventually(10_000, async () => expect((await store.get('acme', 'm-1'))?.status).toBe('delivered'));
    await eventually(5_000, () => expect(results).toEqual(['applied']));
    const { rows } = await db.query('SELECT count(*)::int AS n FROM dispatcher_receipt_inbox');
    expect(rows).toEqual([{ n: 0 }]);
    // Parked again after it was applied (a late carrier retry): applied as a duplicate, nothing changes.
    await applier.accept(receipt('m-1', 'tx-1', 'e-1'));
    await eventually(5_000, () => expect(results).toEqual(['applied', 'duplicate']));
    await applier.stop();
    const relay = startOutboxRelay({ db, table: DISPATCHER_OUTBOX, producer: bus.producer() });
    await relay.flushed(); // the status was stored with the change; the relay published it
    await relay.stop();
    const statuses = bus
      .records(topicFor('us', 'sms.status.v1'))
      .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())));
    expect(statuses.map((s) => s.status)).toEqual(['delivered']);
    // The receipt is an operation on the subject's message: one `receipt` event, the duplicate none.
    const audit = bus
      .records(topicFor('us', 'audit.processing.v1'))
      .map((r) => processingEventSchema.parse(JSON.parse(r.value!.toString())));
    expect(audit).toEqual([
      expect.objectContaining({
        operation: 'receipt',
        messageId: 'm-1',
        subjectPseudonym: 'ps_x',
        subprocessor: 'telnyx',
        reason: 'reported delivered',
      }),
    ]);
  });

  it('applies receipts in the order they arrived, so a `sent` acknowledged before `delivered` is announced', async () => {
    // Dedupe keys that sort against arrival order (like random carrier event ids, half the time),
    // and one clock instant for all: only the arrival order can tell which came first.
    const messages = Array.from({ length: 40 }, (_, i) => `order-${i}`);
    const rows = await store.claim(
      messages.map((messageId) => ({
        controllerId: 'acme',
        messageId,
        campaignId: 'c',
        carrier: 'telnyx' as const,
        recipientPseudonym: 'ps_x',
        instruction: `acme-sms@1#${'d'.repeat(64)}`,
      })),
      clock,
    );
    for (const row of rows)
      await store.advance(row, { status: 'queued', carrierMessageId: `tx-${row.messageId}` }, clock);
    const statusOf = (messageId: string, status: 'sent' | 'delivered', key: string): VerifiedReceipt => ({
      ...receipt(messageId, `tx-${messageId}`, key),
      mapping: { kind: 'status', status, suppress: false },
    });
    // The ingress parks them as the carrier posts them, concurrently: they share multi-row INSERTs.
    const applier = startReceiptApplier(deps(), { pollMs: 50 });
    await Promise.all(
      messages.flatMap((m, i) => [
        applier.accept(statusOf(m, 'sent', `z-${i}`)),
        applier.accept(statusOf(m, 'delivered', `a-${i}`)),
      ]),
    );
    await eventually(10_000, async () => {
      const { rows: left } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM dispatcher_receipt_inbox',
      );
      expect(left[0]!.n).toBe(0);
    });
    await applier.stop();
    const { rows: finals } = await db.query<{ status: string }>(
      `SELECT status FROM dispatcher_messages WHERE message_id LIKE 'order-%'`,
    );
    expect(finals.every((r) => r.status === 'delivered')).toBe(true);
    const relay = startOutboxRelay({ db, table: DISPATCHER_OUTBOX, producer: bus.producer() });
    await relay.flushed();
    await relay.stop();
    const sent = bus
      .records(topicFor('us', 'sms.status.v1'))
      .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())))
      .filter((s) => s.messageId.startsWith('order-') && s.status === 'sent');
    expect(sent).toHaveLength(messages.length);
  });
});
