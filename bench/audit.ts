// `npm run bench -- audit`: the audit service (issue 11) on the real broker and PostgreSQL (DESIGN.md §10).
//   1. append: BENCH_AUDIT_EVENTS processing events (route, send and webhook.deliver of each delivered
//      message, as router, dispatcher and webhooks emit them: ids and pseudonyms only) produced to a
//      fresh {cell}.audit.processing.v1, then the audit service started in this process (default
//      checkpoint policy) and timed until the ledger holds them all;
//   2. raw floors in the same run: the same KafkaBus consuming the same topic and doing nothing, and a
//      multi-row INSERT of the same rows into a plain table (same columns and indexes; no hashing,
//      tree nodes, lock, dedupe or triggers), in batches of the size the service appended;
//   3. checkpoints: sign + store, then the outbox publish, at the ledger sizes BENCH_AUDIT_CHECKPOINT_SIZES
//      (a second ledger grown with appendEvents directly), and the default policy's cost per 1,000 entries;
//   4. keeps up: the ledger's append rate against the pipeline's best sustained message rate
//      (bench/reports/pipeline.json) × the processing events each delivered message produces. The bench
//      exits 1 when the ledger is slower.
// CPU: this process from /proc/self/stat (utime + stime); PostgreSQL from /proc/<pid>/stat, as the sum
// over every process of the cluster (an upper bound: other clients of a shared cluster and the
// background writers included) and over the backends of the pool measured (by application_name), plus
// the flushing and vacuuming its writes leave behind. Per checkpoint (milliseconds): process.cpuUsage()
// and /proc/<pid>/schedstat.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { type Audit, startAudit } from '@massivesms/audit/audit';
import { appendEvents, mergingAppends, verifyLedger } from '@massivesms/audit/ledger';
import {
  consumerGroup,
  decodeJsonOrThrow,
  encodeJson,
  eventIdFor,
  instructionRef,
  type ProcessingEvent,
  processingEventSchema,
} from '@massivesms/contracts';
import type { Db, DbTx } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { canonicalBytes } from '@massivesms/ledger';
import type { IncomingRecord } from '@massivesms/messaging';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import { createLogger } from '@massivesms/telemetry';
import pg from 'pg';
import { Registry } from 'prom-client';
import { openBenchWorkspace } from './fixtures.ts';
import { writeReport } from './report-file.ts';

const events = Number(process.env.BENCH_AUDIT_EVENTS ?? 50_000);
const checkpointSizes = (process.env.BENCH_AUDIT_CHECKPOINT_SIZES ?? '10000,50000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((s) => s > 0)
  .sort((a, b) => a - b);
const checkpointSamples = Number(process.env.BENCH_AUDIT_CHECKPOINT_SAMPLES ?? 30);
// Phase 3b: appends of one delivered message's events at a time.
const smallBatches = Number(process.env.BENCH_AUDIT_SMALL_BATCHES ?? 2_000);
// The service's default policy (AUDIT_CHECKPOINT_ENTRIES, AUDIT_CHECKPOINT_INTERVAL_MS).
const POLICY = { entries: 1_000, intervalMs: 10_000 };
const loadAtStart = loadavg();
const log = createLogger({ service: 'bench', level: 'warn', destination: process.stderr });
const progress = (line: string) => console.error(`audit bench: ${line}`);

// --- CPU from /proc (Linux) ---------------------------------------------------------------------

/** Fields after the command name of /proc/<pid>/stat (field 3 of the man page is index 0). */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone
  }
}
/** utime + stime of a process so far, in seconds (clock ticks: 100 per second here). */
function cpuSeconds(pid: number | 'self'): number | undefined {
  const fields = statFields(pid);
  return fields && (Number(fields[11]) + Number(fields[12])) / 100;
}
/** On-CPU time of a single-threaded process so far, in seconds, at nanosecond resolution. */
function runSeconds(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return undefined;
  }
}
type CpuSnapshot = Map<number, number>;
function snapshot(pids: Iterable<number>, read: (pid: number) => number | undefined): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const pid of pids) {
    const s = read(pid);
    if (s !== undefined) out.set(pid, s);
  }
  return out;
}
/** CPU seconds between two snapshots: a process that appeared in between counts whole. */
function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let sum = 0;
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0);
  return sum;
}
/** The postmaster and all its children (backends, checkpointer, WAL writer…). */
function clusterPids(postmaster: number): number[] {
  const pids = [postmaster];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (Number(statFields(Number(name))?.[1]) === postmaster) pids.push(Number(name));
  }
  return pids;
}
const round = (n: number, digits = 2) => Number(n.toFixed(digits));
/** CPU seconds per 1,000 events, which is also CPU milliseconds per event. */
const per1000 = (seconds: number, count: number) => round((seconds * 1_000) / count, 4);

// --- Processing events as the services emit them ------------------------------------------------

const CONTROLLERS = Array.from({ length: 24 }, (_, i) => `ctl-${String(i + 1).padStart(2, '0')}`);
const PERSONAL = ['user.contact.phone_number', 'user.content.private'];
const PURPOSE = 'essential.service.notifications.sms';
const pseudonymKey = randomBytes(32);
/**
 * The processing events of one message delivered with its webhook: `route` (router, route-batch.ts),
 * `send` (dispatcher, send-events.ts, on carrier acceptance; the delivery receipt adds none) and
 * `webhook.deliver` (webhooks, worker.ts; the pipeline bench's endpoint subscribes to
 * message.delivered only). Same fields and event-id parts as the services; the recipient only
 * appears as a keyed pseudonym of a synthetic number.
 */
function deliveredMessageEvents(messageId: string, n: number, at: Date): ProcessingEvent[] {
  const controllerId = CONTROLLERS[n % CONTROLLERS.length]!;
  const subjectPseudonym = `ps_${createHmac('sha256', pseudonymKey)
    .update(`+1415${2_000_000 + (n % 7_999_999)}`)
    .digest('base64url')}`;
  const instruction = instructionRef(`${controllerId}-sms`, 1, 'b'.repeat(64));
  const occurredAt = at.toISOString();
  const webhookId = `msg_${eventIdFor('webhook', controllerId, messageId).replaceAll('-', '')}`;
  return [
    {
      eventId: eventIdFor('router', 'route', controllerId, messageId, 'performed', ''),
      occurredAt,
      service: 'router',
      region: 'us',
      operation: 'route',
      controllerId,
      messageId,
      subjectPseudonym,
      dataCategories: PERSONAL,
      purpose: PURPOSE,
      instruction,
      outcome: 'performed',
    },
    {
      eventId: eventIdFor('dispatcher', 'send', controllerId, messageId, 1, 'telnyx', 'performed'),
      occurredAt,
      service: 'dispatcher',
      operation: 'send',
      controllerId,
      messageId,
      subjectPseudonym,
      dataCategories: PERSONAL,
      purpose: PURPOSE,
      instruction,
      region: 'us',
      subprocessor: 'telnyx',
      outcome: 'performed',
    },
    // The carrier's two receipts (sent, delivered), each applied and recorded.
    ...(['sent', 'delivered'] as const).map(
      (status): ProcessingEvent => ({
        eventId: eventIdFor(
          'dispatcher',
          'receipt',
          controllerId,
          messageId,
          `telnyx:${messageId}:${status}`,
        ),
        occurredAt,
        service: 'dispatcher',
        operation: 'receipt',
        controllerId,
        messageId,
        subjectPseudonym,
        dataCategories: ['user.contact.phone_number'],
        purpose: PURPOSE,
        instruction,
        region: 'us',
        subprocessor: 'telnyx',
        outcome: 'performed',
        reason: `reported ${status}`,
      }),
    ),
    {
      eventId: eventIdFor('webhooks', 'webhook.deliver', webhookId, 1),
      occurredAt,
      service: 'webhooks',
      operation: 'webhook.deliver',
      controllerId,
      messageId,
      dataCategories: [],
      region: 'us',
      outcome: 'performed',
      reason: 'message.delivered to endpoint ep_bench: HTTP 200',
    },
  ];
}
const EVENTS_PER_MESSAGE = deliveredMessageEvents('m', 0, new Date());
const SMALL_BATCH = EVENTS_PER_MESSAGE.length;
/** `count` events of delivered messages `${prefix}-0`, `${prefix}-1`, … */
function processingEvents(prefix: string, count: number): ProcessingEvent[] {
  const out: ProcessingEvent[] = [];
  const at = new Date();
  for (let n = 0; out.length < count; n++) out.push(...deliveredMessageEvents(`${prefix}-${n}`, n, at));
  return out.slice(0, count);
}

/** The pipeline's best sustained message rate, from its report. */
function pipelineRate(): { messagesPerSecond: number; from: string; date: string; target: number } {
  const file = new URL('reports/pipeline.json', import.meta.url);
  if (!existsSync(file))
    throw new Error('bench/reports/pipeline.json is missing: run `npm run bench -- pipeline`');
  interface PipelineFigures {
    throughput: { complete: boolean; webhooksPerSecond: number; targetWebhooksPerSecond: number };
    latencyAtFixedRate: { ratePerSecond: number; keptUp: boolean }[];
  }
  interface PipelineRun {
    sustained: PipelineFigures['throughput'];
    latencyAtFixedRate: PipelineFigures['latencyAtFixedRate'];
  }
  // Reports since the services run in their own processes hold one run per process layout.
  const raw = JSON.parse(readFileSync(file, 'utf8')) as {
    date: string;
    runs?: Record<string, PipelineRun>;
  } & Partial<PipelineFigures>;
  const run = raw.runs?.separate ?? Object.values(raw.runs ?? {})[0];
  const report: PipelineFigures & { date: string } = run
    ? { date: raw.date, throughput: run.sustained, latencyAtFixedRate: run.latencyAtFixedRate }
    : (raw as PipelineFigures & { date: string });
  const candidates = [
    ...(report.throughput.complete
      ? [{ rate: report.throughput.webhooksPerSecond, from: 'throughput.webhooksPerSecond (backlog)' }]
      : []),
    ...report.latencyAtFixedRate
      .filter((r) => r.keptUp)
      .map((r) => ({ rate: r.ratePerSecond, from: `latencyAtFixedRate ${r.ratePerSecond}/s (kept up)` })),
  ].sort((a, b) => b.rate - a.rate);
  const best = candidates[0];
  if (!best) throw new Error('bench/reports/pipeline.json has no complete or kept-up phase');
  return {
    messagesPerSecond: best.rate,
    from: best.from,
    date: report.date,
    target: report.throughput.targetWebhooksPerSecond,
  };
}
const pipeline = pipelineRate(); // read first: a missing report fails before the long phases

// --- Workspace ------------------------------------------------------------------------------------

const workspace = await openBenchWorkspace('bencha');
const { infra, brokers, namespace, topic, topics } = workspace;
// A second ledger for the checkpoint phase, grown to each size with appendEvents directly.
const checkpointWorkspace = await openBenchWorkspace('benchac');
const admin = new pg.Client({ connectionString: infra.databaseUrl, application_name: 'bench-audit-admin' });
await admin.connect();
const { rows: backendRows } = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
const postmaster = Number(statFields(backendRows[0]!.pid)![1]);
const clusterStat = () => snapshot(clusterPids(postmaster), cpuSeconds);
const clusterRun = () => snapshot(clusterPids(postmaster), runSeconds);
/** The backends of one of the bench's pools (by application_name), now. */
async function backendPids(applicationName: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  );
  return rows.map((r) => r.pid);
}
const backendsOf = async (applicationName: string) =>
  snapshot(await backendPids(applicationName), cpuSeconds);
/**
 * The work PostgreSQL defers after a phase's writes, done now so it does not land in the next phase:
 * flushing the dirty pages (CHECKPOINT) and the vacuum and analyze autovacuum would run on the
 * tables written. Returns its CPU seconds over the cluster.
 */
async function deferredWork(schema: string, tables: readonly string[]): Promise<number> {
  const before = clusterStat();
  await admin.query('CHECKPOINT');
  await admin.query(`VACUUM (ANALYZE) ${tables.map((t) => `${schema}.${t}`).join(', ')}`);
  return cpuBetween(before, clusterStat());
}

// The service's bus as `massivesms audit` builds it; the Kafka floor consumes with it too.
const bus = new KafkaBus({
  brokers,
  clientId: 'audit-us',
  log: (level, message, fields) => log[level](fields, message),
});
const kms = new LocalKms(generateMasterKey());
const processingTopic = topic('audit.processing.v1');
const sample = processingEvents('m', events);
const meanValueBytes = Math.round(
  sample.reduce((sum, e) => sum + encodeJson(processingEventSchema, e).length, 0) / sample.length,
);

try {
  // 1a. The backlog, keyed by controller as the services key it.
  const produceStart = performance.now();
  for (let i = 0; i < sample.length; i += 2_000) {
    await bus.producer().send(
      sample.slice(i, i + 2_000).map((e) => ({
        topic: processingTopic,
        key: e.controllerId,
        value: encodeJson(processingEventSchema, e),
        headers: { region: 'us', controller: e.controllerId, schema: 'audit.processing.v1' },
      })),
    );
  }
  progress(`${events} events produced in ${((performance.now() - produceStart) / 1000).toFixed(1)} s`);

  // 2a. Kafka floor: the same bus and topic, a consumer that does nothing.
  let floorDone: (floor: { events: number; seconds: number; nodeSeconds: number }) => void = () => {};
  const floorFinished = new Promise<Parameters<typeof floorDone>[0]>((resolve) => {
    floorDone = resolve;
  });
  let consumed = 0;
  let kafkaFloorStart: { at: number; count: number; node: number } | undefined;
  const floorConsumer = await bus.consume<IncomingRecord>({
    groupId: consumerGroup('audit', 'us', namespace, 'floor'),
    topics: [processingTopic],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => record,
    maxBatchSize: 1_000,
    handleBatch: async (batch) => {
      consumed += batch.records.length;
      // Steady state: from the end of the first batch to the end of the last.
      kafkaFloorStart ??= { at: performance.now(), count: consumed, node: cpuSeconds('self')! };
      if (consumed >= events)
        floorDone({
          events: consumed - kafkaFloorStart.count,
          seconds: (performance.now() - kafkaFloorStart.at) / 1000,
          nodeSeconds: cpuSeconds('self')! - kafkaFloorStart.node,
        });
    },
  });
  const kafkaFloor = await floorFinished;
  await floorConsumer.stop();
  progress(`kafka floor: ${Math.round(kafkaFloor.events / kafkaFloor.seconds)} events/s`);

  // 1b. The audit service on a fresh ledger, watched through its Db (batches, first and last append).
  const serviceApp = 'bench-audit-service';
  const serviceDb = workspace.db(10, serviceApp);
  const ledger = { batches: 0, rows: 0, appendedBeforeWindow: 0 };
  type Mark = { date: Date; at: number; node: number; cluster: CpuSnapshot; backends: Promise<CpuSnapshot> };
  let windowStart: Mark | undefined;
  let windowEnd: Mark | undefined;
  let allAppended: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allAppended = resolve;
  });
  const mark = (): Mark => ({
    date: new Date(),
    at: performance.now(),
    node: cpuSeconds('self')!,
    cluster: clusterStat(),
    backends: backendsOf(serviceApp),
  });
  const watched: Db = {
    query: <R>(sql: string, params?: readonly unknown[]) => serviceDb.query<R>(sql, params),
    close: () => serviceDb.close(),
    async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
      let appended = 0;
      const result = await serviceDb.transaction((tx) =>
        fn({
          query: <R>(sql: string, params?: readonly unknown[]) => {
            if (/INSERT INTO audit_ledger\b/.test(sql)) appended = (params![0] as unknown[]).length;
            return tx.query<R>(sql, params);
          },
        }),
      );
      if (appended > 0) {
        ledger.batches++;
        ledger.rows += appended;
        // Steady state: from the commit of the first append to the commit of the one completing the backlog.
        if (!windowStart) {
          windowStart = mark();
          ledger.appendedBeforeWindow = ledger.rows;
        } else if (!windowEnd && ledger.rows >= events) {
          windowEnd = mark();
          allAppended();
        }
      }
      return result;
    },
  };
  await admin.query('CHECKPOINT'); // nothing dirty from before the phase is flushed during it
  const serviceStart = performance.now();
  const audit: Audit = await startAudit({
    cell: 'us',
    bus,
    db: watched,
    log,
    registry: new Registry(),
    kms,
    namespace,
  });
  const deadline = setTimeout(() => allAppended(), 600_000);
  await done;
  clearTimeout(deadline);
  if (!windowStart || !windowEnd)
    throw new Error(`the ledger got ${ledger.rows} of ${events} events in 10 minutes`);
  const appendWindow = {
    events: ledger.rows - ledger.appendedBeforeWindow,
    seconds: (windowEnd.at - windowStart.at) / 1000,
    nodeSeconds: windowEnd.node - windowStart.node,
    clusterSeconds: cpuBetween(windowStart.cluster, windowEnd.cluster),
    backendSeconds: cpuBetween(await windowStart.backends, await windowEnd.backends),
  };
  const { rows: signedRows } = await serviceDb.query<{ n: string }>(
    'SELECT count(*) AS n FROM audit_checkpoints WHERE signed_at BETWEEN $1 AND $2',
    [windowStart.date, windowEnd.date],
  );
  const appendRate = appendWindow.events / appendWindow.seconds;
  progress(`service: ${Math.round(appendRate)} events/s, ${ledger.batches} batches`);
  await audit.stop();
  const serviceDeferredSeconds = await deferredWork(workspace.schema, [
    'audit_ledger',
    'audit_tree_nodes',
    'audit_checkpoints',
    'audit_outbox',
  ]);
  const verification = await verifyLedger(serviceDb, { keys: [audit.verifierKey] });
  await serviceDb.close();

  // 2b. INSERT floor: the same rows into a plain table, in batches of the service's mean size.
  const floorApp = 'bench-audit-insert-floor';
  const floorDb = workspace.db(2, floorApp);
  await floorDb.query(`
    CREATE TABLE audit_floor (
      seq bigint PRIMARY KEY, event_id text NOT NULL UNIQUE, controller_id text,
      occurred_at timestamptz NOT NULL, appended_at timestamptz NOT NULL,
      entry bytea NOT NULL, leaf_hash bytea NOT NULL, chain_hash bytea NOT NULL);
    CREATE INDEX audit_floor_controller ON audit_floor (controller_id, seq)`);
  const floorBatch = Math.max(1, Math.round(ledger.rows / ledger.batches));
  const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();
  const floorRows = sample.map((e, i) => {
    const entry = Buffer.from(canonicalBytes(e));
    return { seq: i + 1, e, entry, hash: digest(entry) };
  });
  const floorBatches = [];
  for (let i = 0; i < floorRows.length; i += floorBatch) {
    const rows = floorRows.slice(i, i + floorBatch);
    const at = new Date();
    floorBatches.push([
      rows.map((r) => r.seq),
      rows.map((r) => r.e.eventId),
      rows.map((r) => r.e.controllerId),
      rows.map((r) => r.e.occurredAt),
      rows.map(() => at),
      rows.map((r) => r.entry),
      rows.map((r) => r.hash),
      rows.map((r) => r.hash),
    ]);
  }
  const floorBackendsBefore = await backendsOf(floorApp);
  const floorClusterBefore = clusterStat();
  const floorNodeBefore = cpuSeconds('self')!;
  const floorStart = performance.now();
  for (const params of floorBatches)
    await floorDb.query(
      `INSERT INTO audit_floor (seq, event_id, controller_id, occurred_at, appended_at, entry, leaf_hash, chain_hash)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                            $6::bytea[], $7::bytea[], $8::bytea[])`,
      params,
    );
  const insertFloor = {
    seconds: (performance.now() - floorStart) / 1000,
    nodeSeconds: cpuSeconds('self')! - floorNodeBefore,
    clusterSeconds: cpuBetween(floorClusterBefore, clusterStat()),
    backendSeconds: cpuBetween(floorBackendsBefore, await backendsOf(floorApp)),
    deferredSeconds: 0,
  };
  await floorDb.close();
  insertFloor.deferredSeconds = await deferredWork(workspace.schema, ['audit_floor']);
  progress(`insert floor: ${Math.round(events / insertFloor.seconds)} events/s`);

  // 3. Checkpoints through a second audit service (its timer out of the way), its ledger grown directly.
  const checkpointApp = 'bench-audit-checkpoints';
  const checkpointDb = checkpointWorkspace.db(10, checkpointApp);
  const checkpointAudit = await startAudit({
    cell: 'us',
    bus,
    db: checkpointDb,
    log,
    registry: new Registry(),
    kms,
    checkpointIntervalMs: 3_600_000,
    namespace: checkpointWorkspace.namespace,
  });
  const more = processingEvents(
    'c',
    checkpointSizes.at(-1)! +
      checkpointSizes.length * checkpointSamples * 20 +
      2 * (smallBatches + 4) * SMALL_BATCH,
  );
  let next = 0;
  const direct = { events: 0, seconds: 0, nodeSeconds: 0, backendSeconds: 0 };
  const checkpointResults: Record<string, unknown> = {};
  const perCheckpoint: { size: number; cpuMs: number }[] = [];
  const pct = (xs: readonly number[], q: number) =>
    round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((q / 100) * xs.length))]!, 1);
  const mean = (xs: readonly number[]) => round(xs.reduce((a, b) => a + b, 0) / xs.length, 2);
  const nodeMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1_000;
  for (const size of checkpointSizes) {
    const backends = await backendsOf(checkpointApp);
    const node = cpuSeconds('self')!;
    const start = performance.now();
    const grownFrom = next;
    while (next < size) {
      const chunk = more.slice(next, Math.min(size, next + 1_000));
      await appendEvents(checkpointDb, chunk, new Date());
      next += chunk.length;
    }
    direct.events += next - grownFrom;
    direct.seconds += (performance.now() - start) / 1000;
    direct.nodeSeconds += cpuSeconds('self')! - node;
    direct.backendSeconds += cpuBetween(backends, await backendsOf(checkpointApp));
    const stages = ['sign', 'publish'] as const;
    const measured = Object.fromEntries(
      stages.map((s) => [
        s,
        {
          wallMs: [] as number[],
          nodeMs: [] as number[],
          backendMs: [] as number[],
          clusterMs: [] as number[],
        },
      ]),
    ) as Record<
      (typeof stages)[number],
      { wallMs: number[]; nodeMs: number[]; backendMs: number[]; clusterMs: number[] }
    >;
    const firstSize = next;
    let discarded = 0;
    while (measured.sign.wallMs.length < checkpointSamples) {
      // A few new entries, so there is something to sign (a checkpoint's cost does not depend on how many).
      await appendEvents(checkpointDb, more.slice(next, next + 10), new Date());
      next += 10;
      const pids = await backendPids(checkpointApp);
      const cluster0 = clusterRun();
      const backends0 = snapshot(pids, runSeconds);
      const node0 = process.cpuUsage();
      const t0 = performance.now();
      const signed = await checkpointAudit.checkpoint();
      const t1 = performance.now();
      const node1 = process.cpuUsage(node0);
      const backends1 = snapshot(pids, runSeconds);
      const cluster1 = clusterRun();
      const node2 = process.cpuUsage();
      const t2 = performance.now();
      await checkpointAudit.published();
      const t3 = performance.now();
      const node3 = process.cpuUsage(node2);
      const backends3 = snapshot(pids, runSeconds);
      const cluster3 = clusterRun();
      // A connection the pool opened meanwhile would be missed (its setup is no checkpoint cost anyway).
      const opened = (await backendPids(checkpointApp)).some((pid) => !pids.includes(pid));
      if (signed === undefined || opened) {
        discarded++;
        continue;
      }
      measured.sign.wallMs.push(t1 - t0);
      measured.sign.nodeMs.push(nodeMs(node1));
      measured.sign.backendMs.push(cpuBetween(backends0, backends1) * 1_000);
      measured.sign.clusterMs.push(cpuBetween(cluster0, cluster1) * 1_000);
      measured.publish.wallMs.push(t3 - t2);
      measured.publish.nodeMs.push(nodeMs(node3));
      measured.publish.backendMs.push(cpuBetween(backends1, backends3) * 1_000);
      measured.publish.clusterMs.push(cpuBetween(cluster1, cluster3) * 1_000);
    }
    const summary = (m: (typeof measured)['sign']) => ({
      p50Ms: pct(m.wallMs, 50),
      p90Ms: pct(m.wallMs, 90),
      nodeCpuMs: mean(m.nodeMs),
      postgresBackendsCpuMs: mean(m.backendMs),
      postgresClusterCpuMsMedian: pct(m.clusterMs, 50),
    });
    const cpuMs =
      mean(measured.sign.nodeMs) +
      mean(measured.sign.backendMs) +
      mean(measured.publish.nodeMs) +
      mean(measured.publish.backendMs);
    perCheckpoint.push({ size, cpuMs });
    checkpointResults[`ledgerSize${size}`] = {
      treeSizes: `${firstSize + 10}…${next}`,
      samples: measured.sign.wallMs.length,
      discardedSamples: discarded,
      signAndStore: summary(measured.sign),
      outboxPublish: summary(measured.publish),
      cpuMsPerCheckpoint: round(cpuMs, 2),
    };
    progress(`checkpoints at ${size}: ${JSON.stringify(checkpointResults[`ledgerSize${size}`])}`);
  }
  // 3b. Small batches, as the pipeline's flow hands them over (a few events per partition batch): the
  // per-batch statements dominate there, not the per-row work of the 1,000-event batches above.
  const small = { batches: smallBatches, events: 0, nodeSeconds: 0, backendSeconds: 0, seconds: 0 };
  {
    const backends = await backendsOf(checkpointApp);
    const node = process.cpuUsage();
    const start = performance.now();
    for (let b = 0; b < smallBatches; b++) {
      const chunk = more.slice(next, next + SMALL_BATCH);
      await appendEvents(checkpointDb, chunk, new Date());
      next += chunk.length;
      small.events += chunk.length;
    }
    small.seconds = (performance.now() - start) / 1000;
    small.nodeSeconds = nodeMs(process.cpuUsage(node)) / 1000;
    small.backendSeconds = cpuBetween(backends, await backendsOf(checkpointApp));
    progress(`small batches: ${JSON.stringify(small)}`);
  }
  // The same, four partitions' batches at a time through the service's merging of concurrent appends.
  const merged = { events: 0, nodeSeconds: 0, backendSeconds: 0, seconds: 0 };
  {
    const append = mergingAppends(checkpointDb, () => new Date());
    const backends = await backendsOf(checkpointApp);
    const node = process.cpuUsage();
    const start = performance.now();
    for (let b = 0; b < smallBatches; b += 4) {
      const chunks = [0, 1, 2, 3].map((k) =>
        more.slice(next + k * SMALL_BATCH, next + (k + 1) * SMALL_BATCH),
      );
      await Promise.all(chunks.map((chunk) => append(chunk)));
      next += 4 * SMALL_BATCH;
      merged.events += 4 * SMALL_BATCH;
    }
    merged.seconds = (performance.now() - start) / 1000;
    merged.nodeSeconds = nodeMs(process.cpuUsage(node)) / 1000;
    merged.backendSeconds = cpuBetween(backends, await backendsOf(checkpointApp));
    progress(`small batches, 4 at a time merged: ${JSON.stringify(merged)}`);
  }
  // Decoding, as the consumer does per record (JSON + schema).
  const encoded = sample.slice(0, 10_000).map((e) => encodeJson(processingEventSchema, e));
  const decodeStart = process.cpuUsage();
  for (const bytes of encoded) decodeJsonOrThrow(processingEventSchema, bytes);
  const decodeCpuMsPerEvent = nodeMs(process.cpuUsage(decodeStart)) / encoded.length;
  await checkpointAudit.stop();
  await checkpointDb.close();

  // 4. The verdict.
  const appendCpuSecondsPer1000 =
    per1000(appendWindow.nodeSeconds, appendWindow.events) +
    per1000(appendWindow.backendSeconds, appendWindow.events);
  const costliest = perCheckpoint.reduce((a, b) => (b.cpuMs > a.cpuMs ? b : a));
  // By count one per 1,000 entries (a batch may overshoot), plus the timer's one per 10 s.
  const checkpointsPer1000At = (rate: number) => 1 + 1_000 / rate / (POLICY.intervalMs / 1_000);
  const policyAt = (rate: number) => {
    const perThousandEntries = checkpointsPer1000At(rate);
    const cpuMs = costliest.cpuMs * perThousandEntries;
    return {
      eventsPerSecond: Math.round(rate),
      checkpointsPer1000EntriesAtMost: round(perThousandEntries, 3),
      cpuSecondsPer1000Entries: round(cpuMs / 1_000, 4),
      fractionOfAppendCpu: round(cpuMs / 1_000 / appendCpuSecondsPer1000, 3),
    };
  };
  const eventsPerMessage = EVENTS_PER_MESSAGE.length;
  const pipelineEvents = pipeline.messagesPerSecond * eventsPerMessage;
  const keepsUp = appendRate >= pipelineEvents;
  const report = {
    bench: 'audit',
    date: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      node: process.version,
      loadAverageAtStart: {
        oneMinute: round(loadAtStart[0]!),
        fiveMinutes: round(loadAtStart[1]!),
        fifteenMinutes: round(loadAtStart[2]!),
      },
    },
    kafka: infra.kafkaVersion,
    postgres: infra.postgresVersion,
    partitions: topics.find((t) => t.name === 'audit.processing.v1')!.partitions,
    events: {
      count: events,
      perDeliveredMessage: EVENTS_PER_MESSAGE.map((e) => e.operation).join(' + '),
      controllers: CONTROLLERS.length,
      meanValueBytes,
    },
    append: {
      events: appendWindow.events,
      seconds: round(appendWindow.seconds),
      eventsPerSecond: Math.round(appendRate),
      secondsFromServiceStartToAllAppended: round((windowEnd.at - serviceStart) / 1000),
      batches: ledger.batches,
      meanBatchSize: floorBatch,
      checkpointsSignedDuringRun: Number(signedRows[0]!.n),
      ledgerVerified: verification.ok,
      ledgerEntries: verification.ok ? verification.count : null,
      cpuSecondsPer1000Events: {
        node: per1000(appendWindow.nodeSeconds, appendWindow.events),
        postgresBackends: per1000(appendWindow.backendSeconds, appendWindow.events),
        postgresCluster: per1000(appendWindow.clusterSeconds, appendWindow.events),
        postgresDeferred: per1000(serviceDeferredSeconds, events),
      },
    },
    rawFloor: {
      kafkaConsumeNothing: {
        events: kafkaFloor.events,
        seconds: round(kafkaFloor.seconds),
        eventsPerSecond: Math.round(kafkaFloor.events / kafkaFloor.seconds),
        cpuSecondsPer1000Events: { node: per1000(kafkaFloor.nodeSeconds, kafkaFloor.events) },
      },
      plainInsert: {
        events,
        batchSize: floorBatch,
        seconds: round(insertFloor.seconds),
        eventsPerSecond: Math.round(events / insertFloor.seconds),
        cpuSecondsPer1000Events: {
          node: per1000(insertFloor.nodeSeconds, events),
          postgresBackends: per1000(insertFloor.backendSeconds, events),
          postgresCluster: per1000(insertFloor.clusterSeconds, events),
          postgresDeferred: per1000(insertFloor.deferredSeconds, events),
        },
      },
      ledgerOverFloorCpuSecondsPer1000Events: {
        node: round(
          per1000(appendWindow.nodeSeconds, appendWindow.events) -
            per1000(kafkaFloor.nodeSeconds, kafkaFloor.events) -
            per1000(insertFloor.nodeSeconds, events),
          4,
        ),
        postgresBackends: round(
          per1000(appendWindow.backendSeconds, appendWindow.events) -
            per1000(insertFloor.backendSeconds, events),
          4,
        ),
      },
    },
    smallBatchAppendEvents: {
      events: small.events,
      batchSize: SMALL_BATCH,
      eventsPerSecond: Math.round(small.events / small.seconds),
      cpuSecondsPer1000Events: {
        node: per1000(small.nodeSeconds, small.events),
        postgresBackends: per1000(small.backendSeconds, small.events),
      },
      decodeCpuMsPerEvent: round(decodeCpuMsPerEvent, 4),
      fourAtATimeMerged: {
        events: merged.events,
        eventsPerSecond: Math.round(merged.events / merged.seconds),
        cpuSecondsPer1000Events: {
          node: per1000(merged.nodeSeconds, merged.events),
          postgresBackends: per1000(merged.backendSeconds, merged.events),
        },
      },
    },
    directAppendEvents: {
      events: direct.events,
      batchSize: 1_000,
      eventsPerSecond: Math.round(direct.events / direct.seconds),
      cpuSecondsPer1000Events: {
        node: per1000(direct.nodeSeconds, direct.events),
        postgresBackends: per1000(direct.backendSeconds, direct.events),
      },
    },
    checkpoints: {
      ...checkpointResults,
      defaultPolicy: {
        entries: POLICY.entries,
        intervalMs: POLICY.intervalMs,
        cpuMsPerCheckpoint: round(costliest.cpuMs, 2),
        appendCpuSecondsPer1000Events: round(appendCpuSecondsPer1000, 4),
        atPipelineEventRate: policyAt(pipelineEvents),
        atLedgerAppendRate: policyAt(appendRate),
      },
    },
    keepsUp: {
      keepsUp,
      ledgerEventsPerSecond: Math.round(appendRate),
      pipelineEventsPerSecond: Math.round(pipelineEvents),
      pipelineMessagesPerSecond: pipeline.messagesPerSecond,
      pipelineRateFrom: `bench/reports/pipeline.json of ${pipeline.date}: ${pipeline.from}`,
      processingEventsPerMessage: eventsPerMessage,
      headroom: round(appendRate / pipelineEvents),
      atPipelineTarget: {
        messagesPerSecond: pipeline.target,
        eventsPerSecond: pipeline.target * eventsPerMessage,
        keepsUp: appendRate >= pipeline.target * eventsPerMessage,
      },
    },
    note:
      'The audit service runs in the bench process (startAudit, default checkpoint policy, its KafkaBus built as ' +
      'massivesms audit builds it); broker and PostgreSQL are local, all on the same 2 cores. Rates and CPU are ' +
      'steady state: from the commit of the first batch (the end of the first handler call for the Kafka floor) ' +
      'to the last. CPU seconds per 1,000 events = CPU milliseconds per event. node: this process, utime + stime ' +
      'of /proc/self/stat. postgresBackends: the backends of the pool measured (by application_name). ' +
      'postgresCluster: the sum over every process of the PostgreSQL cluster before and after (postmaster and all ' +
      'its children: WAL writer, checkpointer, autovacuum, and any other client of this shared cluster, so an upper ' +
      'bound). postgresDeferred: CHECKPOINT + VACUUM (ANALYZE) of the tables written, run after the phase (the ' +
      'flushing and autovacuum work its writes leave), over the cluster. The append phase includes the checkpoints ' +
      'the policy signed meanwhile. ledgerOverFloor = service − Kafka floor − INSERT floor. Checkpoints: on a second ' +
      'ledger grown with appendEvents directly (directAppendEvents, no Kafka, one batch at a time), each after 10 ' +
      "new entries, through the service's checkpoint() and outbox relay; CPU from process.cpuUsage() and " +
      '/proc/<pid>/schedstat (ns) of the pool backends, means; cpuMsPerCheckpoint = node + backends of both ' +
      'stages. Policy cost: the costliest size, checkpoints per 1,000 entries = 1 (count) + 100 / rate (the 10 s ' +
      'timer; at most: a batch may overshoot the count and a timer checkpoint restarts it, see checkpointsSignedDuringRun), against node + backends of the append phase. keepsUp: ledger append rate ≥ the pipeline’s best ' +
      'sustained message rate × processing events per delivered message.',
  };
  console.log(JSON.stringify(report, null, 2));
  writeReport(new URL('reports/audit.json', import.meta.url), report);
  progress(
    `${keepsUp ? 'keeps up' : 'does NOT keep up'}: ledger ${Math.round(appendRate)} events/s, pipeline ` +
      `${pipeline.messagesPerSecond} messages/s × ${eventsPerMessage} = ${Math.round(pipelineEvents)} events/s`,
  );
  if (!keepsUp) process.exitCode = 1;
} finally {
  await bus.close();
  await admin.end();
  await checkpointWorkspace.close();
  await workspace.close();
}
