// Instructions' retention (issue 13) on real PostgreSQL with a fake clock: each service's purge
// deletes what is past its controller's `retention.metadataDays` (never an open message, a pending
// delivery or a row still deduplicating a Kafka record), and stores a `retention.purge` processing
// event with each deletion, in the same transaction.
import {
  type ControllerState,
  decodeJsonOrThrow,
  type ProcessingEvent,
  processingEventSchema,
} from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { purgeExpired, type RetentionStore } from '@massivesms/directory';
import { dispatcherMigrations, pgDispatcherRetention } from '@massivesms/dispatcher/dispatcher';
import { decodeRecords } from '@massivesms/outbox';
import { pgRouterRetention, routerMigrations } from '@massivesms/router/router';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { pgWebhooksRetention, webhooksMigrations } from '@massivesms/webhooks/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DAY_MS = 86_400_000;
/** The fake clock: every age below is counted back from it. */
const NOW = new Date('2027-03-01T12:00:00Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY_MS);

/** A controller of the cell whose instruction keeps metadata `metadataDays` days. */
const controller = (controllerId: string, metadataDays: number, withInstruction = true): ControllerState => ({
  controllerId,
  name: controllerId,
  region: 'us',
  revision: 1,
  keys: { dataKey: 'wk1.local.AAAA', pseudonymKey: 'wk1.local.AAAA' },
  instruction: withInstruction
    ? {
        id: `${controllerId}-sms`,
        version: 1,
        sha256: 'a'.repeat(64),
        ref: `${controllerId}-sms@1#${'a'.repeat(64)}`,
        publishedAt: ago(400).toISOString(),
        document: { retention: { contentDays: 7, metadataDays } },
      }
    : null,
  updatedAt: ago(400).toISOString(),
});

interface Case {
  readonly service: 'router' | 'dispatcher' | 'webhooks';
  readonly migrations: Parameters<typeof migrate>[1];
  readonly store: (db: Db) => RetentionStore;
  readonly outbox: string;
  readonly table: string;
  /** Inserts one row of the controller, `days` old; `open` for one that is not finished. */
  readonly seed: (db: Db, controllerId: string, id: string, days: number, open?: boolean) => Promise<void>;
  /** The ids left of the controller's rows. */
  readonly left: (db: Db, controllerId: string) => Promise<string[]>;
  /** The floor: rows younger than this many days stay even with `metadataDays` 0. */
  readonly floorDays: number;
  /** How a purge of `n` finished rows is counted in its audit event. */
  readonly purged: (n: number) => string;
}

const cases: Case[] = [
  {
    service: 'router',
    migrations: routerMigrations,
    store: (db) => pgRouterRetention(db),
    outbox: 'router_outbox',
    table: 'router_messages',
    floorDays: 3,
    purged: (n) => `router_messages=${n}`,
    seed: async (db, controllerId, id, days) => {
      await db.query(
        `INSERT INTO router_messages (controller_id, message_id, outcome, routed_at) VALUES ($1, $2, 'dispatched', $3)`,
        [controllerId, id, ago(days)],
      );
    },
    left: async (db, controllerId) =>
      (
        await db.query<{ id: string }>(
          'SELECT message_id AS id FROM router_messages WHERE controller_id = $1 ORDER BY 1',
          [controllerId],
        )
      ).rows.map((r) => r.id),
  },
  {
    service: 'dispatcher',
    migrations: dispatcherMigrations,
    store: (db) => pgDispatcherRetention(db),
    outbox: 'dispatcher_outbox',
    table: 'dispatcher_messages',
    floorDays: 3,
    purged: (n) => `dispatcher_messages=${n}`,
    seed: async (db, controllerId, id, days, open = false) => {
      await db.query(
        `INSERT INTO dispatcher_messages (controller_id, message_id, campaign_id, status, status_seq, carrier,
           attempt, recipient_pseudonym, instruction, created_at, updated_at, closed_at)
         VALUES ($1, $2, 'c', $3, 3, 'telnyx', 1, 'ps_x', 'i@1#a', $4, $4, $5)`,
        [controllerId, id, open ? 'sent' : 'delivered', ago(days), open ? null : ago(days)],
      );
    },
    left: async (db, controllerId) =>
      (
        await db.query<{ id: string }>(
          'SELECT message_id AS id FROM dispatcher_messages WHERE controller_id = $1 ORDER BY 1',
          [controllerId],
        )
      ).rows.map((r) => r.id),
  },
  {
    service: 'webhooks',
    migrations: webhooksMigrations,
    store: (db) => pgWebhooksRetention(db),
    outbox: 'webhooks_outbox',
    table: 'webhook_deliveries',
    floorDays: 7,
    // Each delivery went with its one attempt.
    purged: (n) => `webhook_deliveries=${n}, webhook_attempts=${n}`,
    seed: async (db, controllerId, id, days, open = false) => {
      await db.query(
        `INSERT INTO webhook_deliveries (webhook_id, endpoint_id, controller_id, message_id, event_type, body, state,
           attempts, next_attempt_at, created_at, finished_at)
         VALUES ($2, 'ep', $1, $2, 'message.delivered', 'v1.sealed', $3, 1, $4, $4, $5)`,
        [controllerId, id, open ? 'pending' : 'delivered', ago(days), open ? null : ago(days)],
      );
      await db.query(
        `INSERT INTO webhook_attempts (webhook_id, attempt, started_at, http_status, latency_ms) VALUES ($1, 1, $2, 200, 5)`,
        [id, ago(days)],
      );
    },
    left: async (db, controllerId) =>
      (
        await db.query<{ id: string }>(
          'SELECT webhook_id AS id FROM webhook_deliveries WHERE controller_id = $1 ORDER BY 1',
          [controllerId],
        )
      ).rows.map((r) => r.id),
  },
];

describe.each(cases)('retention purge of the $service service (real PostgreSQL, fake clock)', (c) => {
  let schema: TestSchema;
  let db: Db;

  /** The processing events the purges stored in the outbox, in order. */
  const purgeEvents = async (): Promise<ProcessingEvent[]> => {
    const { rows } = await db.query<{ records: Buffer }>(`SELECT records FROM ${c.outbox} ORDER BY id`);
    return rows
      .flatMap((r) => decodeRecords(r.records))
      .map((r) => decodeJsonOrThrow(processingEventSchema, r.value as Buffer))
      .filter((e) => e.operation === 'retention.purge');
  };
  const purge = (controllers: ControllerState[], batch?: number) =>
    purgeExpired({
      service: c.service,
      cell: 'us',
      namespace: '',
      controllers: () => controllers,
      store: c.store(db),
      now: () => NOW,
      floorMs: c.floorDays * DAY_MS,
      ...(batch ? { batch } : {}),
    });

  beforeAll(async () => {
    schema = await createTestSchema(`retention-${c.service}`);
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, c.migrations);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('deletes what is past the instruction’s metadata retention, audits it, and keeps the rest', async () => {
    // acme keeps metadata 30 days: 45 and 31 days old go, 29 and 1 stay, an open one 60 days old stays.
    for (const [id, days] of [
      ['a-45', 45],
      ['a-31', 31],
      ['a-29', 29],
      ['a-01', 1],
    ] as const)
      await c.seed(db, 'acme', id, days);
    const openable = c.service !== 'router';
    if (openable) await c.seed(db, 'acme', 'a-open', 60, true);
    // globex keeps nothing (0 days): only what still deduplicates a Kafka record stays.
    await c.seed(db, 'globex', 'g-10', 10);
    await c.seed(db, 'globex', 'g-02', 2);
    // initech has no instruction: nothing of it is touched.
    await c.seed(db, 'initech', 'i-500', 500);

    const controllers = [controller('acme', 30), controller('globex', 0), controller('initech', 0, false)];
    const purged = await purge(controllers);
    expect(purged[c.table]).toBe(3);
    expect(await c.left(db, 'acme')).toEqual(['a-01', 'a-29', ...(openable ? ['a-open'] : [])]);
    expect(await c.left(db, 'globex')).toEqual(['g-02']);
    expect(await c.left(db, 'initech')).toEqual(['i-500']);
    if (c.service === 'webhooks') {
      const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM webhook_attempts');
      expect(Number(rows[0]!.n)).toBe(4 + 1); // the purged deliveries' attempts went with them
    }

    const events = await purgeEvents();
    expect(events.map((e) => [e.controllerId, e.service, e.outcome])).toEqual([
      ['acme', c.service, 'performed'],
      ['globex', c.service, 'performed'],
    ]);
    expect(events[0]!.reason).toContain(`${c.table}=2`);
    expect(events[0]!.reason).toContain(`metadata before ${ago(30).toISOString()}`);
    expect(events[0]!.instruction).toBe(`acme-sms@1#${'a'.repeat(64)}`);
    expect(events[1]!.reason).toContain(`metadata before ${ago(c.floorDays).toISOString()}`);

    // Nothing more is due: no deletion, no event.
    expect(await purge(controllers)).toEqual({});
    expect(await purgeEvents()).toHaveLength(2);
  });

  it('purges in small transactions, each audited with what it deleted', async () => {
    for (const n of [1, 2, 3]) await c.seed(db, 'hooli', `h-${n}`, 100 + n);
    const purged = await purge([controller('hooli', 30)], 2);
    expect(purged[c.table]).toBe(3);
    const events = (await purgeEvents()).filter((e) => e.controllerId === 'hooli');
    expect(events.map((e) => e.reason?.split(';')[0])).toEqual([
      `purged ${c.purged(2)}`,
      `purged ${c.purged(1)}`,
    ]);
    expect(await c.left(db, 'hooli')).toEqual([]);
  });
});
