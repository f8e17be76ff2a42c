// Turns a pipeline run into the report: CPU ms per message per process (and the check that the
// parts add up to what the machine spent), operations per message, the goals of DESIGN.md §10, and
// a previous report's figures side by side (BENCH_PIPELINE_BASELINE).
import { POSTGRES_BACKGROUND, POSTGRES_OTHER } from './cpu.ts';
import { SERVICES } from './pipeline-processes.ts';
import { type PipelineRun, pipelineCpu } from './pipeline-run.ts';

const round = (n: number, digits = 3) => Number(n.toFixed(digits));
const sum = (xs: Iterable<number>) => {
  let total = 0;
  for (const x of xs) total += x;
  return total;
};

/** The figures of one run as reported. */
export function summariseRun(run: PipelineRun, namespacePrefix: RegExp = /^[^.]+\.(us\.)?/) {
  const n = run.sustained.messages;
  const per = (ms: number | undefined) => round((ms ?? 0) / n);
  const cpu = run.cpuMs;
  const serviceRoles: readonly string[] = run.mode === 'separate' ? SERVICES : ['services'];
  const row = (role: string) => ({
    cpuMsPerMessage: per(cpu[role]),
    idlePercentOfCore: run.idle.percentOfCore[role] ?? null,
    peakRssMegabytes: run.peakRssMegabytes[role] ?? null,
  });
  const backends = sum(serviceRoles.map((s) => cpu[`postgres:${s}`] ?? 0));
  const background = cpu[POSTGRES_BACKGROUND] ?? 0;
  const pipeline = pipelineCpu(cpu, run.mode);
  const perProcess: Record<string, unknown> = {};
  for (const s of serviceRoles)
    perProcess[s] = { ...row(s), itsPostgresBackendsCpuMsPerMessage: per(cpu[`postgres:${s}`]) };
  // The broker is shared: what it spent at its background rate (before our services ran) over the window.
  const brokerBackground =
    ((run.background.percentOfCore.kafka ?? 0) / 100) * run.sustained.measuredWindowSeconds * 1000;
  perProcess.kafkaBroker = {
    ...row('kafka'),
    backgroundPercentOfCore: run.background.percentOfCore.kafka ?? null,
    cpuMsPerMessageNetOfBackground: run.sharedBroker
      ? per(Math.max(0, (cpu.kafka ?? 0) - brokerBackground))
      : null,
  };
  perProcess.postgres = {
    cpuMsPerMessage: per(backends + background),
    backendsOfTheServices: per(backends),
    serverProcesses: per(background),
    idlePercentOfCore: run.idle.percentOfCore[POSTGRES_BACKGROUND] ?? null,
  };
  const accounted = sum(
    Object.entries(cpu).flatMap(([role, ms]) => (role === 'postgres:server' ? [] : [ms])),
  );
  const postgresAttributed = sum(
    Object.entries(cpu).flatMap(([role, ms]) =>
      role.startsWith('postgres:') && role !== 'postgres:server' ? [ms] : [],
    ),
  );
  const topicName = (t: string) => t.replace(namespacePrefix, '');
  const kafkaProduced = run.kafka.endOffsets;
  const consumed = Object.fromEntries(
    Object.entries(run.kafka.committed).map(([group, byTopic]) => [
      topicName(group),
      sum(Object.values(byTopic)),
    ]),
  );
  const db = run.postgres.counters.database;
  const perMsg = (x: number | undefined) => round((x ?? 0) / n, 2);
  const tables = Object.fromEntries(
    Object.entries(run.postgres.counters.tables)
      .filter(
        ([, c]) =>
          (c.n_tup_ins ?? 0) +
            (c.n_tup_upd ?? 0) +
            (c.n_tup_del ?? 0) +
            (c.seq_scan ?? 0) +
            (c.idx_scan ?? 0) >
          0,
      )
      .map(([table, c]) => [
        table,
        {
          insertsPerMessage: perMsg(c.n_tup_ins),
          updatesPerMessage: perMsg(c.n_tup_upd),
          hotUpdatesPerMessage: perMsg(c.n_tup_hot_upd),
          deletesPerMessage: perMsg(c.n_tup_del),
          indexScansPerMessage: perMsg(c.idx_scan),
          seqScansPerMessage: perMsg(c.seq_scan),
          seqTuplesReadPerMessage: perMsg(c.seq_tup_read),
          deadTuplesAfter: run.postgres.deadTuplesAfter[table] ?? 0,
        },
      ]),
  );
  const half = run.latency.find((r) => r.asked === 'half');
  const idleServices = serviceRoles.map((s) => run.idle.percentOfCore[s] ?? 0);
  const routerRate = (run.routerAlone?.messagesPerSecond as number | undefined) ?? null;
  return {
    mode: run.mode,
    processes: run.processes,
    cpuMsPerMessage: {
      pipeline: {
        total: round(pipeline / n),
        // A shared broker's background (other users) taken out; rough, as their load varies.
        totalWithBrokerNetOfBackground: run.sharedBroker
          ? round((pipeline - Math.min(cpu.kafka ?? 0, brokerBackground)) / n)
          : null,
        target: 1.0,
        parts: Object.fromEntries([
          ...serviceRoles.map((s) => [s, per(cpu[s])]),
          ['kafkaBroker', per(cpu.kafka)],
          ['postgres', per(backends + background)],
        ]),
      },
      othersSystems: {
        telnyxSimulator: per(cpu.telnyx),
        twilioSimulator: per(cpu.twilio),
        receiver: per(cpu.receiver),
      },
      bench: { loadGeneratorAndSampler: per(cpu.bench), itsPostgresBackends: per(cpu['postgres:bench']) },
      check: {
        pipelineSumOfParts: round(
          sum(serviceRoles.map((s) => cpu[s] ?? 0)) / n + (cpu.kafka ?? 0) / n + (backends + background) / n,
        ),
        everyProcessCounted: per(accounted),
        machineBusy: per(run.machineBusyMs),
        notInAnyCountedProcess: per(run.machineBusyMs - accounted),
        postgresAttributed: per(postgresAttributed),
        postgresServerTotal: per(cpu['postgres:server']),
        postgresOtherClients: per((cpu[POSTGRES_OTHER] ?? 0) + (cpu['postgres:unclassified'] ?? 0)),
      },
    },
    perProcess,
    othersSystems: {
      telnyxSimulator: row('telnyx'),
      twilioSimulator: row('twilio'),
      receiver: row('receiver'),
    },
    operationsPerMessage: {
      kafka: {
        recordsProduced: perMsg(sum(Object.values(kafkaProduced))),
        recordsConsumedByGroups: perMsg(sum(Object.values(consumed))),
        producedByTopic: Object.fromEntries(
          Object.entries(kafkaProduced)
            .filter(([, v]) => v > 0)
            .map(([t, v]) => [topicName(t), perMsg(v)]),
        ),
        consumedByGroup: Object.fromEntries(Object.entries(consumed).map(([g, v]) => [g, perMsg(v)])),
      },
      postgres: {
        statements: perMsg(run.postgres.statements.statements),
        statementsByKind: Object.fromEntries(
          Object.entries(run.postgres.statements.byKind).map(([k, v]) => [k, perMsg(v)]),
        ),
        preparedStatements: perMsg(run.postgres.statements.named),
        statementsByProcess: Object.fromEntries(
          Object.entries(run.postgres.statementsByProcess).map(([p, v]) => [p, perMsg(v)]),
        ),
        pgStatStatementsCalls:
          run.postgres.counters.statementCalls === null ? null : perMsg(run.postgres.counters.statementCalls),
        transactions: perMsg((db.xact_commit ?? 0) + (db.xact_rollback ?? 0)),
        rowsInserted: perMsg(db.tup_inserted),
        rowsUpdated: perMsg(db.tup_updated),
        rowsDeleted: perMsg(db.tup_deleted),
        tuplesReturned: perMsg(db.tup_returned),
        tuplesFetched: perMsg(db.tup_fetched),
        walRecords: perMsg(run.postgres.counters.wal.wal_records),
        walBytes: perMsg(run.postgres.counters.wal.wal_bytes),
        tables,
      },
      http: {
        total: perMsg(run.http.carrierSends + run.http.receiptAttempts + run.http.webhookRequests),
        carrierSends: perMsg(run.http.carrierSends),
        receiptPosts: perMsg(run.http.receiptAttempts),
        webhookPosts: perMsg(run.http.webhookRequests),
      },
    },
    sustained: run.sustained,
    latencyAtFixedRate: run.latency,
    routerAlone: run.routerAlone,
    rawUndiciPostLoop: run.rawUndiciPostLoop,
    rawKafkajsForwardLoop: run.rawKafkajsForwardLoop,
    routerVsRawForward:
      routerRate === null ? null : round(routerRate / run.rawKafkajsForwardLoop.recordsPerSecond),
    pipelineVsRawUndici: round(run.sustained.webhooksPerSecond / run.rawUndiciPostLoop.requestsPerSecond),
    background: run.background,
    idle: run.idle,
    signatureFailures: run.signatureFailures,
    goals: {
      pipelineCpuMsPerMessage: { value: round(pipeline / n), goal: '<= 1.0', met: pipeline / n <= 1.0 },
      p99AtHalfSustainedMs: {
        value: half?.p99Ms ?? null,
        goal: '<= 500',
        met: half?.keptUp === true && half.p99Ms !== null && half.p99Ms <= 500,
      },
      idleServicesPercentOfCore: {
        value: Math.max(...idleServices),
        goal: '< 1 each',
        met: idleServices.every((p) => p < 1),
      },
      routerVsRawForward: {
        value: routerRate === null ? null : round(routerRate / run.rawKafkajsForwardLoop.recordsPerSecond),
        goal: '>= 0.25',
        met: routerRate !== null && routerRate / run.rawKafkajsForwardLoop.recordsPerSecond >= 0.25,
      },
      peakRssPerServiceMegabytes: {
        value: Math.max(...serviceRoles.map((s) => run.peakRssMegabytes[s] ?? 0)),
        goal: '<= 300',
        met: serviceRoles.every((s) => (run.peakRssMegabytes[s] ?? 0) <= 300),
      },
    },
    detail: run.details,
    rawCounters: { kafka: run.kafka, postgres: run.postgres.counters, http: run.http },
  };
}

export type RunSummary = ReturnType<typeof summariseRun>;

/** A previous report's headline figures per run, and each CPU part before and now. */
export function compareWithBaseline(
  runs: Record<string, RunSummary>,
  baseline: { date?: string; runs?: Record<string, RunSummary> },
  source: string,
) {
  const comparison: Record<string, unknown> = {};
  for (const [mode, now] of Object.entries(runs)) {
    const before = baseline.runs?.[mode];
    if (!before) continue;
    const parts: Record<string, { before: number | null; now: number }> = {};
    for (const [part, value] of Object.entries(now.cpuMsPerMessage.pipeline.parts))
      parts[part] = {
        before: (before.cpuMsPerMessage.pipeline.parts as Record<string, number>)[part] ?? null,
        now: value as number,
      };
    const half = (s: RunSummary) => s.latencyAtFixedRate.find((r) => r.asked === 'half');
    comparison[mode] = {
      cpuMsPerMessage: {
        ...parts,
        pipelineTotal: {
          before: before.cpuMsPerMessage.pipeline.total,
          now: now.cpuMsPerMessage.pipeline.total,
        },
        othersSystems: {
          before: before.cpuMsPerMessage.othersSystems,
          now: now.cpuMsPerMessage.othersSystems,
        },
      },
      webhooksPerSecond: { before: before.sustained.webhooksPerSecond, now: now.sustained.webhooksPerSecond },
      p99AtHalfSustainedMs: { before: half(before)?.p99Ms ?? null, now: half(now)?.p99Ms ?? null },
      routerVsRawForward: { before: before.routerVsRawForward, now: now.routerVsRawForward },
      idlePercentOfCore: Object.fromEntries(
        Object.entries(now.perProcess).map(([p, v]) => [
          p,
          {
            before: ((before.perProcess as Record<string, { idlePercentOfCore?: number | null }>)[p]
              ?.idlePercentOfCore ?? null) as number | null,
            now: (v as { idlePercentOfCore?: number | null }).idlePercentOfCore ?? null,
          },
        ]),
      ),
      operationsPerMessage: {
        before: pickOps(before),
        now: pickOps(now),
      },
    };
  }
  return { source, date: baseline.date ?? null, comparison };
}

const pickOps = (s: RunSummary) => ({
  kafkaRecordsProduced: s.operationsPerMessage.kafka.recordsProduced,
  kafkaRecordsConsumed: s.operationsPerMessage.kafka.recordsConsumedByGroups,
  postgresStatements: s.operationsPerMessage.postgres.statements,
  postgresTransactions: s.operationsPerMessage.postgres.transactions,
  postgresRowWrites:
    s.operationsPerMessage.postgres.rowsInserted +
    s.operationsPerMessage.postgres.rowsUpdated +
    s.operationsPerMessage.postgres.rowsDeleted,
  postgresTuplesReturned: s.operationsPerMessage.postgres.tuplesReturned,
  httpExchanges: s.operationsPerMessage.http.total,
});

/** The headline table of a run, for the console. */
export function formatRun(s: RunSummary): string {
  const lines = [
    `${s.mode}: ${s.sustained.messages} messages, ${s.sustained.webhooksPerSecond} webhooks/s sustained`,
    'process                     CPU ms/msg   idle % core   peak RSS MB',
  ];
  const pad = (x: unknown, w: number) => String(x ?? '-').padStart(w);
  for (const [name, v] of Object.entries(s.perProcess)) {
    const r = v as {
      cpuMsPerMessage: number;
      idlePercentOfCore: number | null;
      peakRssMegabytes?: number | null;
    };
    lines.push(
      `${name.padEnd(26)}${pad(r.cpuMsPerMessage, 12)}${pad(r.idlePercentOfCore, 14)}${pad(r.peakRssMegabytes, 14)}`,
    );
  }
  lines.push(`${'pipeline total'.padEnd(26)}${pad(s.cpuMsPerMessage.pipeline.total, 12)}`);
  if (s.cpuMsPerMessage.pipeline.totalWithBrokerNetOfBackground !== null)
    lines.push(
      `${'  broker net of background'.padEnd(26)}${pad(s.cpuMsPerMessage.pipeline.totalWithBrokerNetOfBackground, 12)}` +
        `   (broker background ${s.background.percentOfCore.kafka}% of a core before our services ran)`,
    );
  for (const [name, v] of Object.entries(s.othersSystems))
    lines.push(
      `${name.padEnd(26)}${pad(v.cpuMsPerMessage, 12)}${pad(v.idlePercentOfCore, 14)}${pad(v.peakRssMegabytes, 14)}`,
    );
  const ops = s.operationsPerMessage;
  lines.push(
    `per message: Kafka ${ops.kafka.recordsProduced} produced / ${ops.kafka.recordsConsumedByGroups} consumed; ` +
      `PostgreSQL ${ops.postgres.statements} statements, ${ops.postgres.transactions} transactions, ` +
      `${round(ops.postgres.rowsInserted + ops.postgres.rowsUpdated + ops.postgres.rowsDeleted, 2)} row writes, ` +
      `${ops.postgres.tuplesReturned} tuples returned; HTTP ${ops.http.total}`,
  );
  for (const r of s.latencyAtFixedRate)
    lines.push(
      `at ${r.ratePerSecond}/s (${r.asked}): p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, kept up: ${r.keptUp}`,
    );
  lines.push(
    `router alone ${s.routerAlone?.messagesPerSecond ?? '-'}/s vs raw kafkajs forward ${s.rawKafkajsForwardLoop.recordsPerSecond}/s ` +
      `(${s.routerVsRawForward ?? '-'}); raw undici ${s.rawUndiciPostLoop.requestsPerSecond}/s`,
  );
  const check = s.cpuMsPerMessage.check;
  lines.push(
    `check: parts ${check.pipelineSumOfParts}, every counted process ${check.everyProcessCounted}, machine busy ${check.machineBusy} ` +
      `(not counted ${check.notInAnyCountedProcess}); PostgreSQL attributed ${check.postgresAttributed} of server ${check.postgresServerTotal}`,
  );
  return lines.join('\n');
}
