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
});
