// `node bench/db.ts`: what a named prepared statement saves over an unnamed one (libs/db
// `preparedStatements`), on the dispatcher's own tables (its migrations, BENCH_DB_ROWS messages).
// For each statement, one pooled connection per mode runs it BENCH_DB_RUNS times in a row, in
// BENCH_DB_ROUNDS rounds with the two modes alternating; per statement it reports
//   - client CPU µs (this process, process.cpuUsage) and server CPU µs (that connection's backend,
//     /proc/<pid>/schedstat: PostgreSQL must run on this machine), medians over the rounds;
//   - wall µs per statement (one at a time, so round trip included);
//   - how the server planned the named statement (generic or custom plans, pg_prepared_statements)
//     and EXPLAIN ANALYZE's planning and execution ms for the unnamed text and the prepared one.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { infraUp, loadInfraSettings } from '@massivesms/infra';
import pg from 'pg';
import { writeReport } from './report-file.ts';

const seeded = Number(process.env.BENCH_DB_ROWS ?? 50_000);
const runs = Number(process.env.BENCH_DB_RUNS ?? 4_000);
const rounds = Number(process.env.BENCH_DB_ROUNDS ?? 3);

interface Statement {
  readonly name: string;
  readonly sql: string;
  readonly params: (i: number) => unknown[];
}

const key = (i: number) => `m-${(i * 7919) % seeded}`;
const statements: Statement[] = [
  {
    // The text of PgDispatchStore#forReceiptMany (services/dispatcher), one receipt.
    name: 'receipt lookup (dispatcher)',
    sql: `SELECT u.ord, m.*, EXISTS (SELECT 1 FROM dispatcher_receipts r WHERE r.dedupe_key = u.dedupe_key) AS receipt_seen
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(controller_id, message_id, dedupe_key, ord)
         LEFT JOIN dispatcher_messages m ON m.controller_id = u.controller_id AND m.message_id = u.message_id`,
    params: (i) => [['acme'], [key(i)], [`r-${key(i)}`]],
  },
  {
    name: 'select by key',
    sql: 'SELECT * FROM dispatcher_messages WHERE controller_id = $1 AND message_id = $2',
    params: (i) => ['acme', key(i)],
  },
  {
    name: 'update by key returning',
    sql: `UPDATE dispatcher_messages SET checked_at = $3 WHERE controller_id = $1 AND message_id = $2
          RETURNING status, status_seq, checked_at`,
    params: (i) => ['acme', key(i), new Date()],
  },
];

const infra = await infraUp(loadInfraSettings(), 'massivesms_bench');
const schema = `bench_db_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: infra.databaseUrl });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
type Mode = 'unnamed' | 'named' | 'namedGeneric';
const MODES: readonly Mode[] = ['unnamed', 'named', 'namedGeneric'];
const open = (mode: Mode): Db =>
  createPgDb({
    url: infra.databaseUrl,
    schema,
    max: 1,
    preparedStatements: mode === 'unnamed' ? 0 : 100,
    ...(mode === 'namedGeneric' ? { planCacheMode: 'force_generic_plan' as const } : {}),
    applicationName: 'bench-db',
  });

/** CPU time (µs) the process `pid` has run, from /proc (nanosecond resolution). */
const cpuOf = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const round1 = (x: number) => Math.round(x * 10) / 10;

interface Sample {
  clientUs: number;
  serverUs: number;
  wallUs: number;
}

/** Runs `s` on a fresh single-connection pool; per-statement costs, and the named plan's counters. */
async function measure(s: Statement, mode: Mode) {
  const db = open(mode);
  try {
    const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    for (let i = 0; i < 200; i++) await db.query(s.sql, s.params(i)); // warm: caches, generic plan chosen
    const cpu0 = process.cpuUsage();
    const server0 = cpuOf(pid);
    const wall0 = performance.now();
    for (let i = 0; i < runs; i++) await db.query(s.sql, s.params(i));
    const wall = (performance.now() - wall0) * 1_000;
    const server = cpuOf(pid) - server0;
    const cpu = process.cpuUsage(cpu0);
    const sample: Sample = {
      clientUs: (cpu.user + cpu.system) / runs,
      serverUs: server / runs,
      wallUs: wall / runs,
    };
    const { rows: plans } = await db.query<{ generic_plans: string; custom_plans: string }>(
      'SELECT generic_plans, custom_plans FROM pg_prepared_statements',
    );
    return { sample, plans: plans[0] };
  } finally {
    await db.close();
  }
}

interface Explained {
  planningMs: number;
  executionMs: number;
}

/** EXPLAIN ANALYZE of the statement as sent unnamed, and of an SQL-prepared copy after 10 runs. */
async function explain(s: Statement): Promise<{ unnamed: Explained; prepared: Explained }> {
  const db = open('unnamed');
  const parse = (rows: { 'QUERY PLAN': unknown }[]) => {
    const plan = (rows[0]!['QUERY PLAN'] as { 'Planning Time': number; 'Execution Time': number }[])[0]!;
    return { planningMs: plan['Planning Time'], executionMs: plan['Execution Time'] };
  };
  const medianOf = (xs: Explained[]) => ({
    planningMs: median(xs.map((x) => x.planningMs)),
    executionMs: median(xs.map((x) => x.executionMs)),
  });
  try {
    // EXPLAIN ANALYZE runs the statement: inside a rolled-back transaction, so the UPDATE changes nothing.
    return await db
      .transaction(async (tx) => {
        const unnamed: Explained[] = [];
        for (let i = 0; i < 21; i++) {
          const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(
            `EXPLAIN (ANALYZE, FORMAT JSON) ${s.sql}`,
            s.params(i),
          );
          unnamed.push(parse(rows));
        }
        await tx.query(`PREPARE bench_p AS ${s.sql}`);
        // EXECUTE takes no bind parameters: its arguments go as literals.
        const args = (i: number) => s.params(i).map(literal).join(', ');
        for (let i = 0; i < 10; i++) await tx.query(`EXECUTE bench_p(${args(i)})`);
        const prepared: Explained[] = [];
        for (let i = 0; i < 21; i++) {
          const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(
            `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE bench_p(${args(i)})`,
          );
          prepared.push(parse(rows));
        }
        throw new Rollback({ unnamed: medianOf(unnamed), prepared: medianOf(prepared) });
      })
      .catch((e: unknown) => {
        if (e instanceof Rollback) return e.result;
        throw e;
      });
  } finally {
    await db.close();
  }
}

/** An SQL literal of a bench parameter (text, a Date, or an array of text). */
function literal(value: unknown): string {
  if (Array.isArray(value)) return pg.escapeLiteral(`{${value.map((v) => `"${String(v)}"`).join(',')}}`);
  if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
  return pg.escapeLiteral(String(value));
}

class Rollback extends Error {
  readonly result: { unnamed: Explained; prepared: Explained };
  constructor(result: { unnamed: Explained; prepared: Explained }) {
    super('rollback');
    this.result = result;
  }
}

const report: Record<string, unknown> = {
  bench: 'db',
  at: new Date().toISOString(),
  postgres: infra.postgresVersion,
  seededMessages: seeded,
  runsPerSample: runs,
  rounds,
  statements: {} as Record<string, unknown>,
};
try {
  const setup = open('unnamed');
  try {
    await migrate(setup, {
      service: 'dispatcher',
      dir: fileURLToPath(new URL('../services/dispatcher/migrations', import.meta.url)),
    });
    await setup.query(
      `INSERT INTO dispatcher_messages (controller_id, message_id, campaign_id, status, status_seq, carrier, attempt,
         carrier_message_id, recipient_pseudonym, instruction, created_at, updated_at)
       SELECT 'acme', 'm-' || i, 'bench', 'sent', 2, 'telnyx', 1, 'c-' || i, 'p-' || i, 'acme-sms', now(), now()
         FROM generate_series(0, $1 - 1) AS i`,
      [seeded],
    );
    await setup.query(
      `INSERT INTO dispatcher_receipts (dedupe_key, received_at)
       SELECT 'r-m-' || i, now() FROM generate_series(0, $1 - 1, 2) AS i`,
      [seeded],
    );
    await setup.query('VACUUM ANALYZE dispatcher_messages, dispatcher_receipts');
  } finally {
    await setup.close();
  }

  for (const s of statements) {
    const samples: Record<Mode, Sample[]> = { unnamed: [], named: [], namedGeneric: [] };
    const plans: Partial<Record<Mode, unknown>> = {};
    for (let r = 0; r < rounds; r++) {
      // Rotate which mode goes first, so drift on a shared machine does not favour one.
      const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]!);
      for (const mode of order) {
        const m = await measure(s, mode);
        samples[mode].push(m.sample);
        plans[mode] = m.plans;
      }
    }
    const summary = (xs: Sample[]) => ({
      clientCpuUs: round1(median(xs.map((x) => x.clientUs))),
      serverCpuUs: round1(median(xs.map((x) => x.serverUs))),
      wallUs: round1(median(xs.map((x) => x.wallUs))),
    });
    const [unnamed, named, generic] = MODES.map((m) => summary(samples[m])) as [
      ReturnType<typeof summary>,
      ReturnType<typeof summary>,
      ReturnType<typeof summary>,
    ];
    const explained = await explain(s);
    (report.statements as Record<string, unknown>)[s.name] = {
      unnamed,
      named,
      namedForceGenericPlan: generic,
      plans: { named: plans.named, namedForceGenericPlan: plans.namedGeneric },
      explainAnalyzeMs: explained,
    };
    const plan = (p: unknown) => {
      const { generic_plans, custom_plans } = p as { generic_plans: string; custom_plans: string };
      return `${generic_plans} generic / ${custom_plans} custom`;
    };
    console.log(
      `${s.name}: unnamed → named (plan_cache_mode auto) → named (force_generic_plan)\n` +
        `  client CPU µs ${unnamed.clientCpuUs} → ${named.clientCpuUs} → ${generic.clientCpuUs}\n` +
        `  server CPU µs ${unnamed.serverCpuUs} → ${named.serverCpuUs} → ${generic.serverCpuUs}\n` +
        `  wall µs       ${unnamed.wallUs} → ${named.wallUs} → ${generic.wallUs}\n` +
        `  named plans: auto ${plan(plans.named)}; forced ${plan(plans.namedGeneric)}\n` +
        `  EXPLAIN ANALYZE planning ms ${explained.unnamed.planningMs} unnamed, ${explained.prepared.planningMs} prepared (auto); ` +
        `execution ms ${explained.unnamed.executionMs} / ${explained.prepared.executionMs}`,
    );
  }
  writeReport(new URL('reports/db.json', import.meta.url), report);
} finally {
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
