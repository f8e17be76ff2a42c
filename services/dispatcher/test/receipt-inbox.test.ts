import { MemoryBus } from '@massivesms/bus-memory';
import { cellTopics, processingEventSchema, statusEventSchema, topicFor } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { startOutboxRelay } from '@massivesms/outbox';
import { createTestSchema, eventually, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPATCHER_OUTBOX, PgDispatchStore, RecentRows } from '../src/adapters/pg-dispatch-store.ts';
import type { VerifiedReceipt } from '../src/application/apply-receipt.ts';
import type { DispatchRow } from '../src/application/ports.ts';
import { startReceiptApplier } from '../src/application/receipt-inbox.ts';
import { SendsInFlight } from '../src/application/sends-in-flight.ts';
import { dispatcherMigrations } from '../src/dispatcher.ts';

// The receipt inbox on real PostgreSQL (the bus is in memory: only the published statuses matter).
describe('receipts: applied as they arrive, parked in the inbox only when that fails', () => {
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
    for (const t of cellTopics('us'))
      if (['sms.status.v1', 'suppressions.v1', 'audit.processing.v1'].includes(t.name))
        bus.createTopic(t.fullName, 1, { cleanupPolicy: t.cleanupPolicy });
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
  const claimOf = (messageId: string) => ({
    controllerId: 'acme',
    messageId,
    campaignId: 'c',
    carrier: 'telnyx' as const,
    recipientPseudonym: 'ps_x',
    instruction: `acme-sms@1#${'d'.repeat(64)}`,
  });
  /** The store, counting what is parked, and refusing the first `failures` receipt statements of `messageId`. */
  const watched = (messageId = '', failures = 0) => {
    const counts = { parked: 0, lookups: 0 };
    const proxy = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (typeof value !== 'function') return value;
        if (name === 'enqueueReceipt')
          return (...args: Parameters<PgDispatchStore['enqueueReceipt']>) => {
            counts.parked++;
            return target.enqueueReceipt(...args);
          };
        if (name === 'forReceipt')
          return (...args: Parameters<PgDispatchStore['forReceipt']>) => {
            counts.lookups++;
            return args[1] === messageId && failures-- > 0
              ? Promise.reject(new Error('connection lost'))
              : target.forReceipt(...args);
          };
        if (name === 'advance')
          return (...args: Parameters<PgDispatchStore['advance']>) =>
            args[0].messageId === messageId && failures-- > 0
              ? Promise.reject(new Error('connection lost'))
              : target.advance(...args);
        return value.bind(target);
      },
    });
    return { store: proxy, counts };
  };

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

  it('a receipt for a known message is applied before the carrier is answered: once, with its status event, nothing parked', async () => {
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
    const { store: spied, counts } = watched();
    const applier = startReceiptApplier(
      { ...deps(), store: spied },
      { pollMs: 50, onResult: (_c, r) => results.push(r) },
    );
    expect(await applier.accept(receipt('m-1', 'tx-1', 'e-1'))).toBe('applied');
    expect((await store.get('acme', 'm-1'))?.status).toBe('delivered');
    // The carrier retried (our answer was lost): applied as a duplicate, nothing changes.
    expect(await applier.accept(receipt('m-1', 'tx-1', 'e-1'))).toBe('duplicate');
    expect(results).toEqual(['applied', 'duplicate']);
    expect(counts.parked).toBe(0);
    const { rows: waiting } = await db.query('SELECT count(*)::int AS n FROM dispatcher_receipt_inbox');
    expect(waiting).toEqual([{ n: 0 }]);
    await applier.stop();
    const relay = startOutboxRelay({ db, table: DISPATCHER_OUTBOX, producer: bus.producer() });
    await relay.flushed(); // the status was stored with the change; the relay published it
    await relay.stop();
    const statuses = bus
      .records(topicFor('us', 'sms.status.v1'))
      .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())));
    expect(statuses.filter((s) => s.messageId === 'm-1').map((s) => s.status)).toEqual(['delivered']);
    // The receipt is an operation on the subject's message: one `receipt` event, the duplicate none.
    const audit = bus
      .records(topicFor('us', 'audit.processing.v1'))
      .map((r) => processingEventSchema.parse(JSON.parse(r.value!.toString())))
      .filter((e) => e.messageId === 'm-1');
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

  it('a receipt whose statement fails is parked and applied behind, with the later receipts of its message in order', async () => {
    const [row] = await store.claim(
      [
        {
          controllerId: 'acme',
          messageId: 'm-2',
          campaignId: 'c',
          carrier: 'telnyx',
          recipientPseudonym: 'ps_x',
          instruction: `acme-sms@1#${'d'.repeat(64)}`,
        },
      ],
      clock,
    );
    await store.advance(row!, { status: 'queued', carrierMessageId: 'tx-2' }, clock);
    // The database refuses the first statement for this message (a failover, a lock timeout).
    const { store: flaky, counts } = watched('m-2', 1);
    const errors: unknown[] = [];
    const applier = startReceiptApplier(
      { ...deps(), store: flaky },
      { pollMs: 50, onError: (error) => errors.push(error) },
    );
    const sent = {
      ...receipt('m-2', 'tx-2', 'e-2s'),
      mapping: { kind: 'status', status: 'sent', suppress: false },
    } as const;
    const [first, second] = await Promise.all([
      applier.accept(sent),
      applier.accept(receipt('m-2', 'tx-2', 'e-2d')),
    ]);
    // Both parked: the second must not overtake the first.
    expect([first, second]).toEqual(['queued', 'queued']);
    expect(errors).toHaveLength(1);
    expect(counts.parked).toBe(2);
    await eventually(10_000, async () => expect((await store.get('acme', 'm-2'))?.status).toBe('delivered'));
    await eventually(5_000, async () => {
      const { rows } = await db.query('SELECT count(*)::int AS n FROM dispatcher_receipt_inbox');
      expect(rows).toEqual([{ n: 0 }]);
    });
    await applier.stop();
    const relay = startOutboxRelay({ db, table: DISPATCHER_OUTBOX, producer: bus.producer() });
    await relay.flushed();
    await relay.stop();
    const statuses = bus
      .records(topicFor('us', 'sms.status.v1'))
      .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())))
      .filter((s) => s.messageId === 'm-2');
    expect(statuses.map((s) => s.status)).toEqual(['sent', 'delivered']);
  });

  it('a receipt parked while the applier is busy is not left waiting for the next poll', async () => {
    const rows = await store.claim(
      ['m-3', 'm-4'].map((messageId) => ({
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
    // Both messages' first statements fail, so both receipts are parked; the pass that takes the first
    // one is held until the second was parked (its wake-up arrives while the applier is busy).
    let failures = 2;
    let takes = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const busy = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (name === 'forReceipt')
          return (...args: Parameters<PgDispatchStore['forReceipt']>) =>
            failures-- > 0 ? Promise.reject(new Error('connection lost')) : target.forReceipt(...args);
        if (name === 'advance')
          return (...args: Parameters<PgDispatchStore['advance']>) =>
            failures-- > 0 ? Promise.reject(new Error('connection lost')) : target.advance(...args);
        if (name === 'takeReceipts')
          return async (...args: Parameters<PgDispatchStore['takeReceipts']>) => {
            const taken = await target.takeReceipts(...args);
            if (taken.length > 0 && takes++ === 0) await gate;
            return taken;
          };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // Only wake-ups bring the applier back before this poll interval ends.
    const applier = startReceiptApplier({ ...deps(), store: busy }, { pollMs: 600_000 });
    expect(await applier.accept(receipt('m-3', 'tx-m-3', 'e-3'))).toBe('queued');
    await eventually(5_000, () => expect(takes).toBe(1));
    expect(await applier.accept(receipt('m-4', 'tx-m-4', 'e-4'))).toBe('queued');
    release();
    await eventually(10_000, async () => expect((await store.get('acme', 'm-4'))?.status).toBe('delivered'));
    expect((await store.get('acme', 'm-3'))?.status).toBe('delivered');
    await applier.stop();
  });

  it('a receipt for a row this process just stored is applied without reading it; a replay is still a duplicate', async () => {
    const [row] = await store.claim([{ ...claimOf('m-5') }], clock);
    await store.advance(row!, { status: 'queued', carrierMessageId: 'tx-5' }, clock);
    const { store: spied, counts } = watched();
    const applier = startReceiptApplier({ ...deps(), store: spied }, { pollMs: 50 });
    expect(await applier.accept(receipt('m-5', 'tx-5', 'e-5'))).toBe('applied');
    expect(counts.lookups).toBe(0);
    expect(await applier.accept(receipt('m-5', 'tx-5', 'e-5'))).toBe('duplicate');
    expect(counts.lookups).toBe(1); // nothing to change: decided on the stored row
    await applier.stop();
  });

  it('a kept row another dispatcher moved on only costs a re-read: the receipt is applied to the stored row', async () => {
    const [row] = await store.claim([{ ...claimOf('m-6') }], clock);
    const queued = await store.advance(row!, { status: 'queued', carrierMessageId: 'tx-6' }, clock);
    // Another dispatcher (its own kept rows) applies `sent`: this process still keeps `queued`.
    const other = new PgDispatchStore(db);
    await other.advance(queued!, { status: 'sent' }, clock);
    expect(store.recent.get('acme', 'm-6')?.status).toBe('queued');
    const applier = startReceiptApplier(deps(), { pollMs: 50 });
    expect(await applier.accept(receipt('m-6', 'tx-6', 'e-6'))).toBe('applied');
    expect(await store.get('acme', 'm-6')).toMatchObject({ status: 'delivered', statusSeq: 4 });
    await applier.stop();
  });

  it("a receipt that overtook its send's answer waits for that outcome to be stored: queued is announced before delivered", async () => {
    const [row] = await store.claim([claimOf('m-7')], clock);
    // The send is with the carrier; its answer is being stored when the receipt comes in.
    const inFlight = new SendsInFlight();
    let answered: () => void = () => {};
    inFlight.track(
      'acme',
      'm-7',
      new Promise<void>((resolve) => {
        answered = resolve;
      }),
    );
    const applier = startReceiptApplier({ ...deps(), inFlight }, { pollMs: 50 });
    const applying = applier.accept(receipt('m-7', 'tx-7', 'e-7'));
    const queued = await store.advance(row!, { status: 'queued', carrierMessageId: 'tx-7' }, clock);
    answered();
    expect(await applying).toBe('applied');
    expect(queued).toMatchObject({ status: 'queued', statusSeq: 2 }); // not overtaken
    expect(await store.get('acme', 'm-7')).toMatchObject({ status: 'delivered', statusSeq: 3 });
    await applier.stop();
  });

  it('keeps the latest version of a row whatever order the results come back in', () => {
    const recent = new RecentRows(2);
    const base = { ...claimOf('r-1'), status: 'queued', statusSeq: 2, attempt: 1 } as unknown as DispatchRow;
    recent.remember({ ...base, statusSeq: 3, status: 'sent' });
    recent.remember(base); // an older result arriving late
    expect(recent.get('acme', 'r-1')?.status).toBe('sent');
    recent.remember({ ...base, messageId: 'r-2' });
    recent.remember({ ...base, messageId: 'r-3' });
    expect(recent.get('acme', 'r-1')).toBeUndefined(); // bounded: the oldest goes
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
