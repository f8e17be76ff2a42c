// `npm run bench -- pipeline`: the whole pipeline on the real broker and PostgreSQL (DESIGN.md §10):
// request (`{cell}.sms.requested.v1`) → router → dispatcher → Telnyx simulator → signed receipt back
// to the dispatcher's ingress → status events → webhooks service → signed webhook received and
// verified (standardwebhooks and svix) by the receiver simulator; the audit service appends every
// processing event to its ledger. Every party is a process of its own: the services as
// `massivesms <service>` starts them (BENCH_PIPELINE_PROCESSES=separate, the default), or all four in
// one process (`single`), or one run of each (`both`); the simulators as `massivesms simulate`.
// The machine is shared and noisy: the figure to trust is CPU per message per process, read from
// /proc (the broker and PostgreSQL included), not messages per second. Phases: pipeline-run.ts.
//
// Environment: BENCH_PIPELINE_MESSAGES (sustained phase, default 3000), BENCH_PIPELINE_ROUTER_MESSAGES
// (router-alone backlog and warm-up, default 5000), BENCH_PIPELINE_RATES (per second, `half` = half
// the sustained rate of the run; default `half`), BENCH_PIPELINE_RATE_SECONDS (10),
// BENCH_PIPELINE_IDLE_SECONDS (5), BENCH_PIPELINE_RAW_SECONDS (undici loop, 5),
// BENCH_PIPELINE_RAW_CONCURRENCY (32), BENCH_PIPELINE_RAW_RECORDS (kafkajs loop, 50000),
// BENCH_PIPELINE_STALL_MS (15000), BENCH_PIPELINE_PHASE_CAP_MS (120000), BENCH_PIPELINE_BASELINE
// (a previous report: its figures go beside this run's), BENCH_PIPELINE_REPORT (where to write,
// default bench/reports/pipeline.json), BENCH_PIPELINE_BROKER (`private`, the default: a broker of the
// bench's own, so its CPU is the pipeline's alone; `shared`: the local one other users share).
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { infraUp, KAFKA_VERSION, loadInfraSettings, startPrivateKafka } from '@massivesms/infra';
import { compareWithBaseline, formatRun, type RunSummary, summariseRun } from './pipeline-report.ts';
import { type RunOptions, runPipeline } from './pipeline-run.ts';

import { TICKS_PER_SECOND } from './procfs.ts';
import { writeReport } from './report-file.ts';

const env = process.env;
const layout = env.BENCH_PIPELINE_PROCESSES ?? 'separate';
if (!['separate', 'single', 'both'].includes(layout)) {
  console.error(`BENCH_PIPELINE_PROCESSES must be separate, single or both (got ${layout})`);
  process.exit(2);
}
const modes: RunOptions['mode'][] =
  layout === 'both' ? ['separate', 'single'] : [layout as RunOptions['mode']];
const settings: Omit<RunOptions, 'mode'> = {
  messages: Number(env.BENCH_PIPELINE_MESSAGES ?? 3_000),
  routerMessages: Number(env.BENCH_PIPELINE_ROUTER_MESSAGES ?? 5_000),
  rates: (env.BENCH_PIPELINE_RATES ?? 'half')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '')
    .map((r) => (r === 'half' ? 'half' : Number(r)))
    .filter((r) => r === 'half' || r > 0),
  rateSeconds: Number(env.BENCH_PIPELINE_RATE_SECONDS ?? 10),
  idleSeconds: Number(env.BENCH_PIPELINE_IDLE_SECONDS ?? 5),
  rawSeconds: Number(env.BENCH_PIPELINE_RAW_SECONDS ?? 5),
  rawConcurrency: Number(env.BENCH_PIPELINE_RAW_CONCURRENCY ?? 32),
  rawRecords: Number(env.BENCH_PIPELINE_RAW_RECORDS ?? 50_000),
  stallMs: Number(env.BENCH_PIPELINE_STALL_MS ?? 15_000),
  capMs: Number(env.BENCH_PIPELINE_PHASE_CAP_MS ?? 120_000),
};
const reportPath =
  env.BENCH_PIPELINE_REPORT ?? fileURLToPath(new URL('reports/pipeline.json', import.meta.url));
const loadAtStart = loadavg();
const infra = await infraUp(loadInfraSettings(), 'massivesms_bench');

const brokerChoice = env.BENCH_PIPELINE_BROKER ?? 'private';
if (!['private', 'shared'].includes(brokerChoice)) {
  console.error(`BENCH_PIPELINE_BROKER must be private or shared (got ${brokerChoice})`);
  process.exit(2);
}
const broker = brokerChoice === 'private' ? await startPrivateKafka() : undefined;
const runs: Record<string, RunSummary> = {};
try {
  for (const mode of modes) {
    const summary = summariseRun(
      await runPipeline({ mode, ...settings, ...(broker ? { brokers: broker.brokers } : {}) }),
    );
    runs[mode] = summary;
    console.error(`\n${formatRun(summary)}\n`);
  }
} finally {
  await broker?.remove();
}

const baselinePath = env.BENCH_PIPELINE_BASELINE;
const report = {
  bench: 'pipeline',
  date: new Date().toISOString(),
  machine: {
    cores: cpus().length,
    node: process.version,
    clockTicksPerSecond: TICKS_PER_SECOND,
    loadAverageAtStart: {
      oneMinute: Number(loadAtStart[0]!.toFixed(2)),
      fiveMinutes: Number(loadAtStart[1]!.toFixed(2)),
      fifteenMinutes: Number(loadAtStart[2]!.toFixed(2)),
    },
  },
  kafka: broker ? KAFKA_VERSION : infra.kafkaVersion,
  postgres: infra.postgresVersion,
  settings: { processes: layout, broker: brokerChoice, ...settings },
  runs,
  ...(baselinePath
    ? { before: compareWithBaseline(runs, JSON.parse(readFileSync(baselinePath, 'utf8')), baselinePath) }
    : {}),
  note:
    'CPU per message is each process’s utime+stime from /proc over the sustained phase (first produce until every ' +
    'webhook arrived and every consumer group caught up), divided by its messages; it includes what the processes ' +
    'spend idle meanwhile. PostgreSQL = the backends serving the services’ connections (matched by client port; a ' +
    'backend that exits keeps its last reading) + the server’s own processes (checkpointer, WAL writer, autovacuum); ' +
    'the whole server’s total is in check.postgresServerTotal, with other clients of the shared server. The broker is ' +
    'the bench’s own unless settings.broker is shared (then its CPU includes other users’ traffic); it includes the ' +
    'bench’s producing and offset reads. check.machineBusy is the ' +
    'machine’s busy CPU over the same window: the difference from everyProcessCounted is other work on the machine. ' +
    'Statements are counted in each service process (a preloaded counter on pg.Client#query), as the server has no ' +
    'pg_stat_statements; the server’s row and transaction counters are read 11 s after the phase (its flush delay), ' +
    'so they include that much idle polling. Carrier rate limits are lifted (DISPATCHER_ACCOUNT_RATES, ' +
    'DISPATCHER_SENDER_RATES) and the webhooks worker’s per-endpoint limits raised for the one bench endpoint. Router ' +
    'alone: a backlog routed while the other services are not started yet, rate from its first to last dispatch ' +
    'record, against a kafkajs consume→produce loop over a backlog of request-shaped records (rawKafkajsForwardLoop).',
};
writeReport(reportPath, report);
console.log(JSON.stringify(report, null, 2));
