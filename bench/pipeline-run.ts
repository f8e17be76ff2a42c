// One run of the pipeline bench in one process layout (`separate`: a process per service as
// deployed; `single`: all four in one), on its own topics and schema. Phases, in order:
//   0. background: the shared broker's and server's CPU before any service runs (others' load);
//   1. router alone (separate only): a backlog of `routerMessages` requests while the router is
//      stopped (SIGSTOP), then timed from its first to its last dispatch record once it resumes;
//      the other services start after it and drain that backlog (the warm-up);
//   2. idle: every process's CPU over `idleSeconds` with no traffic;
//   3. sustained: `messages` requests at once; CPU of every process from /proc and the operations
//      (Kafka, PostgreSQL, HTTP) from the first produce until every webhook arrived and every
//      consumer group caught up; the webhooks per second;
//   4. latency at each fixed rate (`half` = half the sustained rate): p50/p99 request → verified webhook;
//   5. raw limits: an undici POST loop to the same receiver, and a kafkajs forward loop over a
//      backlog of `rawRecords` request-shaped records.
import { randomBytes } from 'node:crypto';
import { deleteTopics, ensureTopics, KafkaBus } from '@massivesms/kafka';
import { generateMasterKey } from '@massivesms/privacy';
import pg from 'pg';
import { CpuAccounting, cpuMsByRole, type Tracked } from './cpu.ts';
import { openBenchWorkspace, publishBenchController, publishBenchEndpoint } from './fixtures.ts';
import {
  addStatements,
  KafkaOffsetReader,
  kafkaLag,
  readHttpCounts,
  readPostgresCounters,
  subtract,
} from './pipeline-counters.ts';
import {
  earliest,
  funnel,
  latest,
  percentile,
  ReceiverClient,
  RequestProducer,
  readStatusTimes,
  stages,
} from './pipeline-load.ts';
import {
  SERVICES,
  type ServiceProcess,
  serviceEnvironment,
  startServiceProcess,
  startSimulator,
} from './pipeline-processes.ts';
import { rawKafkaForwardLoop, rawUndiciPostLoop } from './pipeline-raw.ts';
import { listeningPid, machineTicks, readMemory, ticksToMs } from './procfs.ts';

export interface RunOptions {
  readonly mode: 'separate' | 'single';
  /** A broker of the bench's own; default the shared local one. */
  readonly brokers?: readonly string[];
  readonly messages: number;
  readonly routerMessages: number;
  /** Requests per second, or `half` for half the sustained rate of this run. */
  readonly rates: readonly (number | 'half')[];
  readonly rateSeconds: number;
  readonly idleSeconds: number;
  readonly rawSeconds: number;
  readonly rawConcurrency: number;
  /** Records the raw kafkajs loop forwards. */
  readonly rawRecords: number;
  /** A phase is reported incomplete when no webhook arrived for stallMs, or after capMs in all. */
  readonly stallMs: number;
  readonly capMs: number;
}

const TWILIO_SID = `AC${'5'.repeat(32)}`;
// PostgreSQL 15 flushes an idle backend's counters up to 10 s late (pipeline-counters.ts).
const PG_STATS_FLUSH_MS = 11_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

export async function runPipeline(o: RunOptions) {
  const workspace = await openBenchWorkspace(o.mode === 'separate' ? 'benchps' : 'benchp1', {
    ownDatabase: true,
  });
  const { infra, brokers, namespace, topic, topics, schema } = workspace;
  const bus = new KafkaBus({ brokers, clientId: 'bench-pipeline' });
  const masterKey = generateMasterKey();
  const kms = await publishBenchController(bus, topic('controllers.v1'), masterKey);

  const telnyx = await startSimulator<{ baseUrl: string; publicKey: string }>([
    'telnyx',
    '--api-key',
    'KEY_BENCH',
  ]);
  const twilio = await startSimulator<{ baseUrl: string }>([
    'twilio',
    '--account-sid',
    TWILIO_SID,
    '--auth-token',
    'tok-bench',
  ]);
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const receiverSim = await startSimulator<{ origin: string; url: string }>([
    'receiver',
    '--secret',
    secret,
    '--name',
    'bench',
  ]);
  const receiver = new ReceiverClient(receiverSim.info.origin);
  await publishBenchEndpoint(bus, topic('endpoints.v1'), kms, {
    endpointId: 'ep_bench',
    url: receiverSim.info.url,
    secret,
  });
  const carrierOrigins = [telnyx.info.baseUrl.replace(/\/v2$/, ''), twilio.info.baseUrl];

  const env = serviceEnvironment({
    brokers,
    databaseUrl: infra.databaseUrl,
    schema,
    masterKey,
    namespace,
    telnyx: { ...telnyx.info, apiKey: 'KEY_BENCH' },
    twilio: { baseUrl: twilio.info.baseUrl, accountSid: TWILIO_SID, authToken: 'tok-bench' },
  });
  const services: ServiceProcess[] = [];
  const start = (role: string, names: readonly (typeof SERVICES)[number][]) => {
    const p = startServiceProcess(role, names, env);
    services.push(p);
    return p;
  };

  const brokerPort = Number(brokers[0]!.split(':').at(-1));
  const postgresPort = Number(new URL(infra.databaseUrl).port || 5432);
  const kafkaPid = listeningPid(brokerPort);
  const postmasterPid = listeningPid(postgresPort);
  const fixed: Tracked[] = [
    { role: 'bench', pid: process.pid },
    { role: 'telnyx', pid: telnyx.pid },
    { role: 'twilio', pid: twilio.pid },
    { role: 'receiver', pid: receiverSim.pid },
    ...(kafkaPid !== undefined ? [{ role: 'kafka', pid: kafkaPid }] : []),
  ];
  const cpu = new CpuAccounting({
    tracked: () => [...fixed, ...services.map((s) => ({ role: s.role, pid: s.pid }))],
    ...(postmasterPid !== undefined ? { postmasterPid } : {}),
    postgresPort,
  });
  cpu.start(500);
  const offsets = new KafkaOffsetReader(
    brokers,
    topics.map((t) => t.fullName),
    `${namespace}.`,
  );
  await offsets.connect();
  const stats = new pg.Client({ connectionString: infra.databaseUrl });
  await stats.connect();
  const requests = new RequestProducer(bus, topic('sms.requested.v1'));
  const log = (line: string) => console.error(`[bench ${o.mode}] ${line}`);

  /** Waits until every group caught up and no topic grew for a second; the offsets then. */
  async function settle(timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    let previous = '';
    let stableSince = Date.now();
    for (;;) {
      const now = await offsets.read();
      const ends = JSON.stringify(now.endOffsets);
      if (kafkaLag(now) !== 0 || ends !== previous) stableSince = Date.now();
      previous = ends;
      if (Date.now() - stableSince >= 1_000) return { offsets: now, settled: true };
      if (Date.now() > deadline) return { offsets: now, settled: false };
      await sleep(250);
    }
  }

  // 0. Background: the shared broker's and PostgreSQL server's CPU before any service of ours runs
  // (other users of the machine), to read their figures below against.
  const bg0 = cpu.snapshot();
  await sleep(o.idleSeconds * 1000);
  const bg1 = cpu.snapshot();
  const bgMs = cpuMsByRole(bg0, bg1);
  const background = {
    seconds: round((bg1.at - bg0.at) / 1000, 2),
    percentOfCore: Object.fromEntries(
      ['kafka', 'postgres:server', 'postgres:other'].map((r) => [
        r,
        round((100 * (bgMs[r] ?? 0)) / (bg1.at - bg0.at), 2),
      ]),
    ),
  };
  log(`background: ${JSON.stringify(background)}`);

  // 1. Router alone, then the rest of the pipeline drains its backlog (the warm-up).
  let routerAlone: Record<string, unknown> | null = null;
  const warmupIds = Array.from({ length: o.routerMessages }, (_, i) => `w-${i}`);
  if (o.mode === 'separate') {
    const router = start('router', ['router']);
    await router.ready;
    router.child.kill('SIGSTOP');
    await requests.produce(warmupIds);
    const c0 = cpu.snapshot();
    const resumedAt = Date.now();
    router.child.kill('SIGCONT');
    // Done when the router caught up and its outbox relay published everything (no topic grows).
    const requested = topic('sms.requested.v1');
    const routerGroup = `${namespace}.router.us`;
    let previous = '';
    let stableSince = Date.now();
    for (;;) {
      const now = await offsets.read();
      const ends = JSON.stringify(now.endOffsets);
      const caughtUp = (now.committed[routerGroup]?.[requested] ?? -1) >= now.endOffsets[requested]!;
      if (!caughtUp || ends !== previous) stableSince = Date.now();
      previous = ends;
      if (Date.now() - stableSince >= 500) break;
      if (Date.now() - resumedAt > o.capMs) throw new Error('router alone: backlog not routed in time');
      await sleep(50);
    }
    const c1 = cpu.snapshot();
    const doneAt = Date.now();
    const routed = await dispatchTimes(bus, topic('sms.dispatch.v1'));
    const used = cpuMsByRole(c0, c1);
    routerAlone = {
      messages: o.routerMessages,
      dispatchRecords: routed.count,
      // From the router's first to its last dispatch record (their producer timestamps).
      messagesPerSecond: Math.round((routed.count - 1) / ((routed.last - routed.first) / 1000)),
      // Until no topic grew for 0.5 s: an upper bound.
      wallSeconds: round((doneAt - resumedAt) / 1000, 2),
      // Over the wall time above, so with up to 0.5 s of idle.
      cpuMsPerMessage: {
        router: round(used.router! / o.routerMessages),
        postgresBackendsOfRouter: round((used['postgres:router'] ?? 0) / o.routerMessages),
      },
    };
    log(`router alone: ${JSON.stringify(routerAlone)}`);
    const rest = (['dispatcher', 'webhooks', 'audit'] as const).map((s) => start(s, [s]));
    await Promise.all(rest.map((p) => p.ready));
  } else {
    await start('services', SERVICES).ready;
    await requests.produce(warmupIds);
  }
  const warm = await receiver.waitFor(0, o.routerMessages, Date.now(), o.stallMs, o.capMs * 3);
  if (!warm) throw new Error(`warm-up: ${await receiver.answered()} of ${o.routerMessages} webhooks`);
  await settle();
  const quietFrom = Date.now();
  log('warmed up');

  // 2. Idle, once the warm-up's counters reached the server: CPU, statements and transactions.
  await sleep(Math.max(0, PG_STATS_FLUSH_MS - (Date.now() - quietFrom)));
  const idleStatements0 = await Promise.all(services.map((s) => s.statements()));
  const idlePg0 = await readPostgresCounters(stats, schema);
  const idle0 = cpu.snapshot();
  await sleep(o.idleSeconds * 1000);
  const idle1 = cpu.snapshot();
  const idlePg1 = await readPostgresCounters(stats, schema);
  const idleStatements1 = await Promise.all(services.map((s) => s.statements()));
  const idleMs = cpuMsByRole(idle0, idle1);
  const idleWindowMs = idle1.at - idle0.at;
  const idlePercentOfCore = (role: string) => round((100 * (idleMs[role] ?? 0)) / idleWindowMs, 2);
  const perSecond = (n: number) => round((1000 * n) / idleWindowMs, 1);
  const idleDb = subtract(idlePg1.database, idlePg0.database);
  const idle = {
    seconds: round(idleWindowMs / 1000, 2),
    percentOfCore: Object.fromEntries(
      [...services.map((s) => s.role), 'kafka', 'postgres:background', 'telnyx', 'twilio', 'receiver'].map(
        (r) => [r, idlePercentOfCore(r)],
      ),
    ),
    statementsPerSecond: Object.fromEntries(
      services.map((s, i) => [
        s.role,
        perSecond(idleStatements1[i]!.statements - idleStatements0[i]!.statements),
      ]),
    ),
    // Counters flush up to a second late even when busy: rough over a few seconds.
    postgresTransactionsPerSecond: perSecond((idleDb.xact_commit ?? 0) + (idleDb.xact_rollback ?? 0)),
    postgresTuplesReturnedPerSecond: perSecond(idleDb.tup_returned ?? 0),
  };
  log(`idle: ${JSON.stringify(idle)}`);

  // 3. Sustained: every request at once.
  const pgBefore = idlePg1;
  const httpBefore = await readHttpCounts(carrierOrigins, receiver.origin);
  const statementsBefore = await Promise.all(services.map((s) => s.statements()));
  const kafkaBefore = await offsets.read();
  const answeredBefore = await receiver.answered();
  const machineBefore = machineTicks();
  const cpuBefore = cpu.snapshot();
  const throughputIds = Array.from({ length: o.messages }, (_, i) => `t-${i}`);
  const throughputStart = Date.now();
  await requests.produce(throughputIds);
  const producedAllAt = Date.now();
  const complete = await receiver.waitFor(answeredBefore, o.messages, throughputStart, o.stallMs, o.capMs);
  const allWebhooksAt = Date.now();
  const settled = await settle();
  const cpuAfter = cpu.snapshot();
  const machineAfter = machineTicks();
  const statementsAfter = await Promise.all(services.map((s) => s.statements()));
  const httpAfter = await readHttpCounts(carrierOrigins, receiver.origin);
  const settledAt = Date.now();
  await sleep(PG_STATS_FLUSH_MS);
  const pgAfter = await readPostgresCounters(stats, schema);
  const { times: webhookTimes } = await receiver.webhookTimes();
  const throughputTimes = new Map([...webhookTimes].filter(([id]) => id.startsWith('t-')));
  const lastWebhookAt = latest(throughputTimes.values());
  const sustainedRate = Math.round(throughputTimes.size / ((lastWebhookAt - throughputStart) / 1000));
  const cpuMs = cpuMsByRole(cpuBefore, cpuAfter);
  const sustained = {
    messages: o.messages,
    verifiedWebhooks: throughputTimes.size,
    complete: complete && throughputTimes.size === o.messages,
    settled: settled.settled,
    seconds: round((lastWebhookAt - throughputStart) / 1000, 2),
    webhooksPerSecond: sustainedRate,
    targetWebhooksPerSecond: 5_000,
    secondsFromFirstProduceTo: {
      allProduced: round((producedAllAt - throughputStart) / 1000, 2),
      lastWebhookReceived: round((lastWebhookAt - throughputStart) / 1000, 2),
      everyGroupCaughtUp: round((settledAt - throughputStart) / 1000, 2),
    },
    measuredWindowSeconds: round((cpuAfter.at - cpuBefore.at) / 1000, 2),
    settleAfterLastWebhookSeconds: round((settledAt - allWebhooksAt) / 1000, 2),
  };
  log(`sustained: ${JSON.stringify(sustained)}`);
  const kafkaDelta = subtract(settled.offsets, kafkaBefore);
  const statements = subtract(addStatements(statementsAfter), addStatements(statementsBefore));
  const statementsByProcess = Object.fromEntries(
    services.map((s, i) => [s.role, subtract(statementsAfter[i]!, statementsBefore[i]!).statements]),
  );

  // 4. Latency at fixed rates.
  const latency = [];
  for (const wanted of o.rates) {
    const rate = wanted === 'half' ? Math.max(1, Math.round(sustainedRate / 2)) : wanted;
    const prefix = `r${rate}-`;
    const total = Math.round(rate * o.rateSeconds);
    const before = await receiver.answered();
    const c0 = cpu.snapshot();
    const start = Date.now();
    await requests.produceAtRate(prefix, rate, total);
    const lastProducedAt = Date.now();
    const done = await receiver.waitFor(before, total, lastProducedAt, o.stallMs, o.capMs);
    const c1 = cpu.snapshot();
    const { times: all } = await receiver.webhookTimes();
    const times = new Map([...all].filter(([id]) => id.startsWith(prefix)));
    const ids = [...times.keys()].sort((a, b) => requests.producedAt.get(a)! - requests.producedAt.get(b)!);
    const latencies = ids.map((id) => times.get(id)! - requests.producedAt.get(id)!);
    const sorted = [...latencies].sort((a, b) => a - b);
    const tenth = Math.max(1, Math.floor(latencies.length / 10));
    const median = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      );
    const p50First = median(latencies.slice(0, tenth));
    const p50Last = median(latencies.slice(-tenth));
    const growthMs = p50Last !== null && p50First !== null ? p50Last - p50First : null;
    const drainMs = latest(times.values()) - lastProducedAt;
    const keptUp = done && times.size === total && growthMs !== null && growthMs < 500 && drainMs <= 2_000;
    const row = {
      ratePerSecond: rate,
      asked: wanted,
      seconds: o.rateSeconds,
      produced: total,
      producedPerSecond: Math.round(total / ((lastProducedAt - start) / 1000)),
      verifiedWebhooks: times.size,
      achievedWebhooksPerSecond: Math.round(
        (times.size - 1) / ((latest(times.values()) - earliest(times.values())) / 1000),
      ),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: percentile(sorted, 100),
      p50MsFirstTenth: p50First,
      p50MsLastTenth: p50Last,
      drainAfterLastProduceMs: drainMs,
      keptUp,
      pipelineCpuMsPerMessage: round(pipelineCpu(cpuMsByRole(c0, c1), o.mode) / total),
    };
    log(`latency: ${JSON.stringify(row)}`);
    latency.push(row);
  }

  // Funnel and stages of the sustained and rate phases, from the status records' timestamps.
  const statusAt = await readStatusTimes(bus, topic('sms.status.v1'));
  const received = await receiver.webhookTimes();
  const phaseDetail = (prefix: string, produced: number) => {
    const phaseTimes = new Map([...received.times].filter(([id]) => id.startsWith(prefix)));
    return {
      funnel: funnel(statusAt, prefix, produced, phaseTimes.size),
      stages: stages(
        Array.from({ length: produced }, (_, i) => `${prefix}${i}`),
        requests.producedAt,
        statusAt,
        phaseTimes,
      ),
    };
  };
  const details = {
    sustained: phaseDetail('t-', o.messages),
    ...Object.fromEntries(
      latency.map((r) => [`rate${r.ratePerSecond}`, phaseDetail(`r${r.ratePerSecond}-`, r.produced)]),
    ),
  };

  // Peak memory of every process (VmHWM: the most it was ever resident).
  const peakRssMegabytes: Record<string, number> = {};
  for (const { role, pid } of [...fixed, ...services.map((s) => ({ role: s.role, pid: s.pid }))]) {
    const memory = readMemory(pid);
    if (memory) peakRssMegabytes[role] = Math.round(memory.peakRssKb / 1024);
  }

  // 5. Raw limits.
  const rawUndici = await rawUndiciPostLoop({
    url: receiverSim.info.url,
    secret,
    body: received.sampleBody,
    seconds: o.rawSeconds,
    concurrency: o.rawConcurrency,
  });
  log(`raw undici: ${JSON.stringify(rawUndici)}`);
  // A backlog of request-shaped records (the bench's own requests, cycled) for the forward loop.
  const rawIn = { ...topics[0]!, name: 'raw.in', fullName: `${namespace}.raw.in`, partitions: 12 };
  const rawOut = { ...rawIn, name: 'raw.out', fullName: `${namespace}.raw.out` };
  await ensureTopics(brokers, [rawIn, rawOut]);
  await requests.copyTo(rawIn.fullName, o.rawRecords);
  const r0 = cpu.snapshot();
  const rawForward = await rawKafkaForwardLoop({
    brokers,
    from: rawIn.fullName,
    to: rawOut.fullName,
    total: o.rawRecords,
    groupId: `raw-${namespace}`,
  });
  const rawUsed = cpuMsByRole(r0, cpu.snapshot());
  const rawKafkajsForwardLoop = {
    ...rawForward,
    cpuMsPerRecord: {
      client: round(rawUsed.bench! / rawForward.records, 4),
      broker: round((rawUsed.kafka ?? 0) / rawForward.records, 4),
    },
  };
  log(`raw kafkajs forward: ${JSON.stringify(rawKafkajsForwardLoop)}`);

  cpu.stop();
  for (const s of services) await s.stop();
  for (const sim of [telnyx, twilio, receiverSim]) await sim.stop();
  await offsets.deleteGroups([`raw-${namespace}`]);
  await offsets.close();
  await stats.end();
  await bus.close();
  await deleteTopics(brokers, [rawIn.fullName, rawOut.fullName]);
  await workspace.close();

  return {
    mode: o.mode,
    sharedBroker: o.brokers === undefined,
    processes: Object.fromEntries([...fixed, ...services].map((p) => [p.role, p.pid])),
    routerAlone,
    sustained,
    cpuMs,
    background,
    idle,
    machineBusyMs: ticksToMs(machineAfter.busy - machineBefore.busy),
    kafka: kafkaDelta,
    postgres: {
      counters: subtract(pgAfter, pgBefore),
      deadTuplesAfter: Object.fromEntries(Object.entries(pgAfter.tables).map(([t, c]) => [t, c.n_dead_tup!])),
      statements,
      statementsByProcess,
    },
    http: subtract(httpAfter, httpBefore),
    latency,
    details,
    signatureFailures: received.signatureFailures,
    peakRssMegabytes,
    rawUndiciPostLoop: rawUndici,
    rawKafkajsForwardLoop,
  };
}

export type PipelineRun = Awaited<ReturnType<typeof runPipeline>>;

/** The pipeline's own CPU in a phase: the services, the broker and PostgreSQL (our backends and its own processes). */
export function pipelineCpu(cpuMs: Record<string, number>, mode: 'separate' | 'single'): number {
  const services = mode === 'separate' ? SERVICES : ['services'];
  let total = (cpuMs.kafka ?? 0) + (cpuMs['postgres:background'] ?? 0);
  for (const s of services) total += (cpuMs[s] ?? 0) + (cpuMs[`postgres:${s}`] ?? 0);
  return total;
}

/** How many records the dispatch topic holds and the first and last of their timestamps. */
async function dispatchTimes(bus: KafkaBus, dispatchTopic: string) {
  let count = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  const reader = await bus.readFromStart({
    topics: [dispatchTopic],
    onRecords: (records) => {
      for (const r of records) {
        const t = Number(r.timestamp);
        count++;
        first = Math.min(first, t);
        last = Math.max(last, t);
      }
    },
  });
  await reader.caughtUp;
  await reader.stop();
  return { count, first, last };
}
