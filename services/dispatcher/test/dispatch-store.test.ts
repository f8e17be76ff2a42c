import { createPgDb, type Db, migrate } from '@massivesms/db';
import { createTestSchema, eventually, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDispatchStore } from '../src/adapters/pg-dispatch-store.ts';
import { dispatcherMigrations } from '../src/dispatcher.ts';

const claim = (messageId: string) => ({
  controllerId: 'acme',
  messageId,
  campaignId: 'winter',
  carrier: 'telnyx' as const,
  recipientPseudonym: 'ps_abc',
  instruction: `acme-sms@1#${'a'.repeat(64)}`,
});

describe('claim-before-send store (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  let store: PgDispatchStore;
  const now = new Date('2026-11-26T12:00:00Z');

  beforeAll(async () => {
    schema = await createTestSchema('dispatch-store');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, dispatcherMigrations);
    store = new PgDispatchStore(db);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('claims each message once, even when the same batch is claimed twice or concurrently', async () => {
    const first = await store.claim([claim('m1'), claim('m2')], now);
    expect(first.map((r) => [r.messageId, r.status, r.statusSeq, r.attempt])).toEqual([
      ['m1', 'sending', 1, 1],
      ['m2', 'sending', 1, 1],
    ]);
    expect(await store.claim([claim('m1'), claim('m2')], now)).toEqual([]);
    const racing = await Promise.all(Array.from({ length: 5 }, () => store.claim([claim('m3')], now)));
    expect(racing.flat()).toHaveLength(1);
  });

  it('fails a message over once: a second worker holding the same attempt gets nothing', async () => {
    await store.claim([claim('m4')], now);
    const moved = await store.failOver('acme', 'm4', 1, 'twilio', now);
    expect(moved).toMatchObject({ carrier: 'twilio', attempt: 2, status: 'sending' });
    expect(await store.failOver('acme', 'm4', 1, 'twilio', now)).toBeUndefined();
  });

  it('advances the status only from the sequence the caller saw (statusSeq increases on every change)', async () => {
    const [row] = await store.claim([claim('m5')], now);
    const queued = await store.advance(
      row!,
      { status: 'queued', carrierMessageId: 'tx-1', segments: 2 },
      now,
    );
    expect(queued).toMatchObject({ status: 'queued', statusSeq: 2, carrierMessageId: 'tx-1', segments: 2 });
    expect(await store.advance(row!, { status: 'failed' }, now)).toBeUndefined(); // stale view
    const delivered = await store.advance(queued!, { status: 'delivered' }, now);
    expect(delivered).toMatchObject({ status: 'delivered', statusSeq: 3, carrierMessageId: 'tx-1' });
  });

  it('records each receipt once', async () => {
    expect(await store.firstReceipt('telnyx:evt-1', now)).toBe(true);
    expect(await store.firstReceipt('telnyx:evt-1', now)).toBe(false);
  });

  it('no index of dispatcher_messages mentions a column a status change writes, but closed_at (set once, at the end)', async () => {
    // PostgreSQL updates a row in place (HOT, no index work) only when no indexed column changes,
    // partial-index predicates included.
    const { rows } = await db.query<{ index: string; columns: string[] }>(
      `SELECT i.indexrelid::regclass::text AS index,
              array(SELECT DISTINCT a.attname::text FROM pg_attribute a
                     WHERE a.attrelid = i.indrelid
                       AND (a.attnum = ANY (i.indkey)
                            OR pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
                     ORDER BY 1) AS columns
         FROM pg_index i WHERE i.indrelid = 'dispatcher_messages'::regclass ORDER BY 1`,
    );
    const written = ['status', 'status_seq', 'carrier', 'attempt', 'carrier_message_id', 'segments'];
    const alsoWritten = ['error_code', 'reason', 'updated_at', 'checked_at'];
    for (const { index, columns } of rows)
      expect({ index, mutable: columns.filter((c) => [...written, ...alsoWritten].includes(c)) }).toEqual({
        index,
        mutable: [],
      });
    expect(rows.map((r) => r.columns)).toContainEqual(['closed_at', 'created_at']);
  });

  it('parked messages waiting for carriers are due when one of their carriers is not open, or when their wait is over', async () => {
    const parked = (messageId: string, acceptedAt: string, waitingFor?: string[]) => ({
      controllerId: 'acme',
      messageId,
      dueAt: now,
      record: { messageId, acceptedAt },
      ...(waitingFor ? { waitingFor } : {}),
    });
    await store.park([
      parked('waits-telnyx', '2026-11-26T11:00:00Z', ['telnyx']),
      parked('waits-both', '2026-11-26T11:00:00Z', ['telnyx', 'twilio']),
      parked('waited-a-day', '2026-11-25T11:00:00Z', ['telnyx']),
      parked('quiet-hours', '2026-11-26T11:00:00Z'),
    ]);
    let tick = 0; // each take a millisecond later, past the previous take's (zero-length) hold
    const take = async (open: string[], giveUpBefore?: Date) => {
      const due = await store.takeDue(10, new Date(now.getTime() + ++tick), 0, open, giveUpBefore);
      return due.map((d) => d.messageId).sort();
    };
    // Telnyx and Twilio open: only the quiet-hours hold is due.
    expect(await take(['telnyx', 'twilio'])).toEqual(['quiet-hours']);
    // Telnyx open, Twilio not: whoever may use Twilio is due.
    expect(await take(['telnyx'])).toEqual(['quiet-hours', 'waits-both']);
    // Both open, but a message accepted before the limit is taken to be closed.
    expect(await take(['telnyx', 'twilio'], new Date('2026-11-25T12:00:00Z'))).toEqual([
      'quiet-hours',
      'waited-a-day',
    ]);
    // Parking again moves the due time and frees the row.
    await store.park([
      { ...parked('quiet-hours', '2026-11-26T11:00:00Z'), dueAt: new Date(now.getTime() + 60_000) },
    ]);
    expect(await take([])).toEqual(['waited-a-day', 'waits-both', 'waits-telnyx']);
  });
});

describe('status updates in place (HOT) on real PostgreSQL', () => {
  let schema: TestSchema;
  let db: Db;
  let store: PgDispatchStore;
  const now = new Date('2026-11-26T12:00:00Z');

  beforeAll(async () => {
    schema = await createTestSchema('dispatch-hot');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, dispatcherMigrations);
    store = new PgDispatchStore(db);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('a message on its way (queued, sent, a carrier check) is updated in place; only closing it touches the indexes', async () => {
    const rows = await store.claim(['h1', 'h2', 'h3', 'h4'].map(claim), now);
    for (const row of rows) {
      const queued = await store.advance(
        row,
        { status: 'queued', carrierMessageId: `tx-${row.messageId}` },
        now,
      );
      await store.markChecked(queued!, now, []);
      const sent = await store.advance(queued!, { status: 'sent' }, now);
      await store.advance(sent!, { status: 'delivered' }, now);
    }
    const stats = async () =>
      (
        await db.query<{ updates: number; hot: number }>(
          `SELECT n_tup_upd::int AS updates, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables
            WHERE relid = 'dispatcher_messages'::regclass`,
        )
      ).rows[0]!;
    // Statistics reach the shared counters when each backend goes idle (within about 10 s).
    await eventually(20_000, async () => expect((await stats()).updates).toBe(16));
    expect(await stats()).toEqual({ updates: 16, hot: 12 });
  });
});
