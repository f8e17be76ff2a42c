// `node services/webhooks/bench/lease-history.ts [delivered]`: what the queue's statements cost once
// history has piled up on a server without autovacuum (issue 12: the cost must stay flat with history).
// Runs the service's own statements (PgDeliveryStore) in a fresh schema with autovacuum off for its
// tables: `delivered` deliveries (default 100,000) stored, leased and recorded as delivered in rounds
// of 500, as the worker does; then EXPLAIN (ANALYZE, BUFFERS) of the lease with nothing due, of the
// lease with a round of 500 due, of the intake insert and of recording 500 attempts. Prints JSON.
import { randomUUID } from 'node:crypto';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { infraUp, loadInfraSettings } from '@massivesms/infra';
import pg from 'pg';
import { type DeliveryToStore, PgDeliveryStore } from '../src/adapters/pg-delivery-store.ts';
import { webhooksMigrations } from '../src/webhooks.ts';

const delivered = Number(process.argv[2] ?? 100_000);
const ROUND = 500;
const infra = await infraUp(loadInfraSettings(), 'massivesms_bench');
const schema = `bench_whhist_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: infra.databaseUrl });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);

/** The statements the store sent (the last of each kind), to EXPLAIN them with their parameters. */
const captured = new Map<string, { sql: string; params: readonly unknown[] }>();
const kindOf = (sql: string) =>
  /INSERT INTO webhook_deliveries/.test(sql) && !/webhook_attempts/.test(sql)
    ? 'intake'
    : /FOR UPDATE OF d SKIP LOCKED|FOR UPDATE SKIP LOCKED/.test(sql)
      ? 'lease'
      : /INSERT INTO webhook_attempts/.test(sql)
        ? 'record'
        : undefined;
const raw = createPgDb({ url: infra.databaseUrl, schema, max: 4 });
/** When set, the store's statements are captured and not run (EXPLAIN ANALYZE runs them). */
let dryRun = false;
const db: Db = {
  query: (sql, params) => {
    const kind = kindOf(sql);
    if (kind) captured.set(kind, { sql, params: params ?? [] });
    if (dryRun && kind) return Promise.resolve({ rows: [], rowCount: 0 } as never);
    return raw.query(sql, params);
  },
  transaction: (fn) => raw.transaction(fn),
  close: () => raw.close(),
};

try {
  await migrate(db, webhooksMigrations);
  const tables = ['webhook_deliveries', 'webhook_attempts', 'webhooks_outbox'];
  const { rows: more } = await admin.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = $1`,
    [schema],
  );
  for (const t of more.map((r) => r.tablename))
    await admin.query(`ALTER TABLE ${schema}.${t} SET (autovacuum_enabled = false)`);
  void tables;
  const store = new PgDeliveryStore(db);
  const owner = `bench-${randomUUID()}`;
  const batch = (n: number, round: number): DeliveryToStore[] =>
    Array.from({ length: n }, (_, i) => ({
      webhookId: `msg_${round}_${i}_${randomUUID()}`,
      endpointId: `ep_${i % 4}`,
      controllerId: 'acme',
      messageId: `m_${round}_${i}`,
      eventType: 'message.delivered',
      body: 'x'.repeat(400),
    }));
  const leaseOptions = () => ({
    now: new Date(),
    owner,
    leaseMs: 25_000,
    perEndpoint: 10_000,
    busy: new Map<string, number>(),
    limit: ROUND,
  });
  /** Records a first attempt that delivered, for each leased row. */
  const deliverLeased = async (leased: readonly { webhookId: string }[]) => {
    const at = new Date();
    await Promise.all(
      leased.map((row) =>
        store.recordAttempt(
          owner,
          {
            webhookId: row.webhookId,
            attempt: 1,
            startedAt: at,
            httpStatus: 204,
            latencyMs: 3,
            errorClass: null,
            responseExcerpt: null,
            nextAttemptAt: null,
          },
          { state: 'delivered' },
          at,
        ),
      ),
    );
  };
  const deliverRound = async (round: number) => {
    await store.insert(batch(ROUND, round), new Date());
    const leased = await store.lease(leaseOptions());
    await deliverLeased(leased);
    return leased.length;
  };
  const started = performance.now();
  let done = 0;
  for (let round = 0; done < delivered; round++) {
    done += await deliverRound(round);
    // As the worker does (every QUEUE_VACUUM_EVERY ended deliveries), where the store has a queue.
    if (round % 10 === 9 && 'vacuumQueue' in store) await store.vacuumQueue();
  }
  console.error(`${done} delivered in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const explain = async (kind: string) => {
    const c = captured.get(kind)!;
    // Rolled back: EXPLAIN ANALYZE runs the statement, which must not change what the next one sees.
    const client = new pg.Client({ connectionString: infra.databaseUrl });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${schema}`);
      await client.query('BEGIN');
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${c.sql}`,
        c.params as unknown[],
      );
      await client.query('ROLLBACK');
      const plan = (
        rows[0]!['QUERY PLAN'] as { Plan: Record<string, number>; 'Execution Time': number }[]
      )[0]!;
      await client.query('BEGIN');
      const text = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${c.sql}`, c.params as unknown[]);
      await client.query('ROLLBACK');
      return {
        executionMs: plan['Execution Time'],
        sharedHit: plan.Plan['Shared Hit Blocks'],
        sharedRead: plan.Plan['Shared Read Blocks'],
        plan: text.rows.map((r) => (r as { 'QUERY PLAN': string })['QUERY PLAN']),
      };
    } finally {
      await client.end();
    }
  };
  const dry = async (call: () => Promise<unknown>) => {
    dryRun = true;
    try {
      await call();
    } finally {
      dryRun = false;
    }
  };
  // Nothing due: the idle worker's poll.
  await dry(() => store.lease(leaseOptions()));
  const leaseEmpty = await explain('lease');
  // A round stored (EXPLAIN ANALYZE of the insert, rolled back), then stored for real and leased.
  await dry(() => store.insert(batch(ROUND, -2), new Date()));
  const intake = await explain('intake');
  await store.insert(batch(ROUND, -1), new Date());
  await dry(() => store.lease(leaseOptions()));
  const leaseRound = await explain('lease');
  const leased = await store.lease(leaseOptions());
  // A backlog: 4,000 due for one endpoint, leased 64 at a time (the pipeline bench's per-endpoint bound).
  await store.insert(
    batch(4_000, -3).map((d) => ({ ...d, endpointId: 'ep_backlog' })),
    new Date(),
  );
  await dry(() => store.lease({ ...leaseOptions(), perEndpoint: 64, limit: 512 }));
  const leaseBacklog = await explain('lease');
  await deliverLeased(leased);
  const { rows: sizes } = await admin.query(
    `SELECT c.relname, pg_relation_size(c.oid) AS bytes, s.n_dead_tup, s.n_live_tup, s.n_tup_hot_upd, s.n_tup_upd
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY c.relname`,
    [schema],
  );
  const summary = (e: Awaited<ReturnType<typeof explain>>) => ({
    executionMs: e.executionMs,
    sharedHit: e.sharedHit,
    sharedRead: e.sharedRead,
  });
  console.log(
    JSON.stringify(
      {
        delivered: done,
        leaseNothingDue: summary(leaseEmpty),
        leaseRoundDue: summary(leaseRound),
        leaseBacklog64Of4000: summary(leaseBacklog),
        intakeRound: summary(intake),
        relations: sizes,
      },
      null,
      1,
    ),
  );
  if (process.env.PLANS === '1') {
    console.log(leaseEmpty.plan.join('\n'));
    console.log(leaseRound.plan.join('\n'));
    console.log(intake.plan.join('\n'));
    console.log(leaseBacklog.plan.join('\n'));
  }
} finally {
  await db.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
