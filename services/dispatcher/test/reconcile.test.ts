import { MemoryBus } from '@massivesms/bus-memory';
import { statusEventSchema, topicFor } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { startOutboxRelay } from '@massivesms/outbox';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPATCHER_OUTBOX, PgDispatchStore } from '../src/adapters/pg-dispatch-store.ts';
import { reconcileStale } from '../src/application/reconcile.ts';
import { dispatcherMigrations } from '../src/dispatcher.ts';

// The explicit, audited policy for outcomes nobody reported (real PostgreSQL; the bus is in memory
// because only the published events are inspected).
describe('reconciliation of stale outcomes', () => {
  let schema: TestSchema;
  let db: Db;
  let store: PgDispatchStore;
  const bus = new MemoryBus();
  const t0 = new Date('2026-11-26T00:00:00Z');

  beforeAll(async () => {
    schema = await createTestSchema('reconcile');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, dispatcherMigrations);
    store = new PgDispatchStore(db);
    for (const name of ['sms.status.v1', 'audit.processing.v1'] as const)
      bus.createTopic(topicFor('us', name), 1);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  const noLookups = {
    telnyx: { lookup: () => Promise.reject(new Error('no lookup expected')) },
    twilio: { lookup: () => Promise.reject(new Error('no lookup expected')) },
  };
  const claim = (messageId: string) => ({
    controllerId: 'acme',
    messageId,
    campaignId: 'c',
    carrier: 'telnyx' as const,
    recipientPseudonym: 'ps_x',
    instruction: `acme-sms@1#${'d'.repeat(64)}`,
  });

  it('an interrupted send becomes unknown, and an unknown one without a receipt is closed as failed — never resent', async () => {
    await store.claim([claim('interrupted')], t0);
    const [ambiguous] = await store.claim([claim('ambiguous')], t0);
    await store.claim([claim('fresh')], new Date(t0.getTime() + 7 * 3_600_000 - 60_000));
    await store.advance(ambiguous!, { status: 'unknown', errorCode: 'CARRIER_RESPONSE_TIMEOUT' }, t0);
    const deps = {
      cell: 'us' as const,
      namespace: '',
      store,
      now: () => new Date(t0.getTime() + 7 * 3_600_000),
      carriers: noLookups,
    };

    const relay = startOutboxRelay({ db, table: DISPATCHER_OUTBOX, producer: bus.producer() });
    expect(await reconcileStale(deps)).toBe(2);
    await relay.flushed(); // the changes' events were stored with them; the relay published them
    await relay.stop();
    expect((await store.get('acme', 'interrupted'))?.status).toBe('unknown');
    expect(await store.get('acme', 'ambiguous')).toMatchObject({
      status: 'failed',
      errorCode: 'DISPATCH_OUTCOME_UNKNOWN',
    });
    expect((await store.get('acme', 'fresh'))?.status).toBe('sending'); // still inside its window
    const statuses = bus
      .records(topicFor('us', 'sms.status.v1'))
      .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())));
    expect(statuses.map((s) => [s.messageId, s.status])).toEqual([
      ['interrupted', 'unknown'],
      ['ambiguous', 'failed'],
    ]);
    const audit = bus
      .records(topicFor('us', 'audit.processing.v1'))
      .map((r) => JSON.parse(r.value!.toString()));
    expect(audit.map((e: { operation: string; reason: string }) => `${e.operation}:${e.reason}`)).toEqual([
      'send.reconcile:DISPATCH_SEND_INTERRUPTED',
      'send.reconcile:DISPATCH_OUTCOME_UNKNOWN',
    ]);
  });

  it('an accepted message without a final receipt is asked about at its carrier, and closed as unconfirmed when nobody ever says', async () => {
    const claimed = await store.claim([claim('late-told'), claim('late-silent'), claim('late-gone')], t0);
    for (const row of claimed)
      await store.advance(row, { status: 'queued', carrierMessageId: `tx-${row.messageId}` }, t0);
    const asked: string[] = [];
    const answers: Record<string, 'delivered' | 'sent' | 'not_found'> = {
      'tx-late-told': 'delivered',
      'tx-late-silent': 'sent',
      'tx-late-gone': 'not_found',
    };
    const carrier = {
      lookup: async (id: string) => {
        asked.push(id);
        const answer = answers[id]!;
        return answer === 'not_found'
          ? ({ kind: 'not_found' } as const)
          : ({ kind: 'status', status: answer, suppress: false } as const);
      },
    };
    let clock = new Date(t0.getTime() + 2 * 3_600_000); // past the 1 h receipt deadline
    const deps = {
      cell: 'us' as const,
      namespace: '',
      store,
      now: () => clock,
      carriers: { telnyx: carrier, twilio: carrier },
    };
    const relay = startOutboxRelay({ db, table: DISPATCHER_OUTBOX, producer: bus.producer() });
    await reconcileStale(deps);
    expect(asked.sort()).toEqual(['tx-late-gone', 'tx-late-silent', 'tx-late-told']);
    expect((await store.get('acme', 'late-told'))?.status).toBe('delivered');
    expect((await store.get('acme', 'late-silent'))?.status).toBe('sent');
    expect((await store.get('acme', 'late-gone'))?.status).toBe('queued');
    // Asked again only after the recheck interval.
    await reconcileStale(deps);
    expect(asked).toHaveLength(3);
    // A day after their last news nobody has confirmed the two others: closed, never left in flight.
    clock = new Date(t0.getTime() + 27 * 3_600_000);
    await reconcileStale(deps);
    for (const m of ['late-silent', 'late-gone'])
      expect(await store.get('acme', m)).toMatchObject({
        status: 'undelivered',
        errorCode: 'CARRIER_DELIVERY_UNCONFIRMED',
      });
    await relay.flushed();
    await relay.stop();
    const statuses = bus
      .records(topicFor('us', 'sms.status.v1'))
      .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())))
      .filter((s) => s.messageId.startsWith('late-'))
      .map((s) => `${s.messageId}:${s.status}`);
    expect(statuses.sort()).toEqual([
      'late-gone:undelivered',
      'late-silent:sent',
      'late-silent:undelivered',
      'late-told:delivered',
    ]);
    const lookups = bus
      .records(topicFor('us', 'audit.processing.v1'))
      .map(
        (r) => JSON.parse(r.value!.toString()) as { operation: string; messageId: string; outcome: string },
      )
      .filter((e) => e.operation === 'send.lookup');
    expect(lookups.filter((e) => e.messageId === 'late-gone').map((e) => e.outcome)).toEqual([
      'failed',
      'failed',
    ]);
    expect(lookups).toHaveLength(5); // three at the deadline, two a day later
  });
});
