// `npm run bench -- router`: the router alone, Kafka → Kafka on the real broker, against the raw
// kafkajs consume→produce loop measured in the same run (DESIGN.md §10).
//   1. throughput: a backlog of BENCH_ROUTER_MESSAGES requests, timed from first to last routed;
//   2. latency: requests produced at a fixed rate (BENCH_ROUTER_RATE/s), per-record time from the
//      request's produce to its dispatch record arriving, p50/p99;
//   3. raw: a kafkajs consumer group that forwards the same backlog unchanged, msgs/s.
// Between 2 and 3 the router sits idle for BENCH_ROUTER_IDLE_SECONDS (15): its CPU then (issue 12:
// an idle service under 1 % of a core).
// Phases 1 and 3 also report CPU per message (the machine is shared and noisy: trust CPU per message
// over messages per second): this process from /proc, and for the router its PostgreSQL backends.
// Phase 1 counts until the outbox is published too. BENCH_ROUTER_CPU_PROFILE=file.cpuprofile writes a
// CPU profile of phase 1 alone.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus } from 'node:os';
import { deleteTopics, ensureTopics, KafkaBus } from '@massivesms/kafka';
import { startRouter } from '@massivesms/router/router';
import { createLogger } from '@massivesms/telemetry';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { Registry } from 'prom-client';
import { openBenchWorkspace, publishBenchController } from './fixtures.ts';
import { writeReport } from './report-file.ts';

const backlog = Number(process.env.BENCH_ROUTER_MESSAGES ?? 50_000);
const rate = Number(process.env.BENCH_ROUTER_RATE ?? 1_000);
const rateSeconds = Number(process.env.BENCH_ROUTER_RATE_SECONDS ?? 10);
const idleSeconds = Number(process.env.BENCH_ROUTER_IDLE_SECONDS ?? 15);

const workspace = await openBenchWorkspace('benchr');
const { infra, brokers, namespace, topics, topic } = workspace;
// The raw loop's output topic, beside the cell's.
const rawOut = { ...topics[0]!, name: 'raw.out', fullName: `${namespace}.raw.out`, partitions: 12 };
await ensureTopics(brokers, [rawOut]);
const db = workspace.db(8, 'bench-router');
const bus = new KafkaBus({
  brokers,
  clientId: 'bench-router',
  partitionsConsumedConcurrently: Number(process.env.BENCH_ROUTER_CONCURRENCY ?? 12),
});

const kms = await publishBenchController(bus, topic('controllers.v1'));

const request = (i: number, sentAt: number) =>
  JSON.stringify({
    messageId: `b-${i}`,
    controllerId: 'acme',
    campaignId: 'bench',
    purpose: 'essential.service.notifications.sms',
    to: `+1415${String(2_000_000 + ((i * 7919) % 7_999_999))}`,
    from: '+14155550100',
    body: `Your order ${i} has shipped. Reply STOP to opt out.`,
    metadata: { sentAt },
  });

async function produce(from: number, count: number) {
  for (let i = from; i < from + count; i += 2_000) {
    const n = Math.min(2_000, from + count - i);
    await bus.producer().send(
      Array.from({ length: n }, (_, k) => ({
        topic: topic('sms.requested.v1'),
        key: null,
        value: request(i + k, Date.now()),
      })),
    );
  }
}

/** utime + stime of a process in ms, from /proc (0 once it is gone). */
function cpuMsOf(pid: number | 'self'): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}
/** CPU ms of the router's PostgreSQL backends, by pid (readable when PostgreSQL runs on this machine). */
async function backendCpuMs(): Promise<Map<number, number>> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-router'`,
  );
  return new Map(rows.map((r) => [r.pid, cpuMsOf(r.pid)]));
}
function backendDelta(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of after) ms += cpu - (before.get(pid) ?? 0);
  return ms;
}

// 1. Throughput on a backlog.
await produce(0, backlog);
const profiler = process.env.BENCH_ROUTER_CPU_PROFILE ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
const cpuBefore = cpuMsOf('self');
const backendsBefore = await backendCpuMs();
let routed = 0;
let firstAt = 0;
let lastAt = 0;
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 200);
const router = await startRouter({
  cell: 'us',
  bus,
  db,
  kms,
  log: createLogger({ service: 'router', level: 'warn', destination: process.stderr }),
  registry: new Registry(),
  namespace,
  onBatch: (o) => {
    if (firstAt === 0) firstAt = performance.now();
    routed +=
      o.dispatched +
      o.duplicates +
      o.suppressed +
      o.expired +
      Object.values(o.rejected).reduce((a, b) => a + b, 0);
    lastAt = performance.now();
  },
});
const wait = async (done: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('bench timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};
await wait(() => routed >= backlog, 600_000);
const throughput = Math.round(backlog / ((lastAt - firstAt) / 1000));
// The router's work ends when the relay has published what it stored.
for (;;) {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM router_outbox');
  if (rows[0]!.n === '0') break;
  await new Promise((r) => setTimeout(r, 100));
}
const routerCpuMs = cpuMsOf('self') - cpuBefore;
const routerBackendsCpuMs = backendDelta(backendsBefore, await backendCpuMs());
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(process.env.BENCH_ROUTER_CPU_PROFILE!, JSON.stringify(profile));
  profiler.disconnect();
}

// 2. Latency at a fixed rate.
const latencies: number[] = [];
let rateStart = Number.POSITIVE_INFINITY;
const reader = await bus.readFromStart({
  topics: [topic('sms.dispatch.v1')],
  onRecords: (records) => {
    const now = Date.now();
    for (const r of records) {
      const sentAt = (JSON.parse(r.value!.toString()) as { metadata?: { sentAt?: number } }).metadata?.sentAt;
      if (sentAt !== undefined && sentAt >= rateStart) latencies.push(now - sentAt);
    }
  },
});
await reader.caughtUp;
rateStart = Date.now();
const perTick = Math.max(1, Math.round(rate / 20));
let sent = 0;
const total = rate * rateSeconds;
while (sent < total) {
  const tickStart = Date.now();
  await produce(backlog + sent, Math.min(perTick, total - sent));
  sent += perTick;
  await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - tickStart))));
}
await wait(() => latencies.length >= total, 120_000);
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
clearInterval(rssTimer);
await reader.stop();

// Idle: nothing to route; the consumers, the controllers view and the relay wait.
await new Promise((r) => setTimeout(r, 3_000));
const idleBefore = { self: cpuMsOf('self'), backends: await backendCpuMs(), at: performance.now() };
await new Promise((r) => setTimeout(r, idleSeconds * 1_000));
const idleWallMs = performance.now() - idleBefore.at;
const idleCpuPercent = ((cpuMsOf('self') - idleBefore.self) / idleWallMs) * 100;
const idleBackendsCpuPercent = (backendDelta(idleBefore.backends, await backendCpuMs()) / idleWallMs) * 100;
await router.stop();

// 3. Raw kafkajs consume→produce loop over the same requests.
const kafka = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.ERROR });
const rawProducer = kafka.producer({ maxInFlightRequests: 1 });
await rawProducer.connect();
const rawConsumer = kafka.consumer({ groupId: `${namespace}.raw`, maxWaitTimeInMs: 100 });
await rawConsumer.connect();
await rawConsumer.subscribe({ topics: [topic('sms.requested.v1')], fromBeginning: true });
let forwarded = 0;
let rawFirst = 0;
let rawLast = 0;
const rawTotal = backlog + total;
const rawCpuBefore = cpuMsOf('self');
await rawConsumer.run({
  autoCommit: false,
  partitionsConsumedConcurrently: 4,
  eachBatch: async ({ batch }) => {
    if (rawFirst === 0) rawFirst = performance.now();
    await rawProducer.send({
      topic: rawOut.fullName,
      acks: -1,
      compression: CompressionTypes.None, // what KafkaBus sends by default
      messages: batch.messages.map((m) => ({ key: m.key, value: m.value })),
    });
    await rawConsumer.commitOffsets([
      {
        topic: batch.topic,
        partition: batch.partition,
        offset: (BigInt(batch.lastOffset()) + 1n).toString(),
      },
    ]);
    forwarded += batch.messages.length;
    rawLast = performance.now();
  },
});
await wait(() => forwarded >= rawTotal, 600_000);
const raw = Math.round(rawTotal / ((rawLast - rawFirst) / 1000));
const rawCpuMs = cpuMsOf('self') - rawCpuBefore;
await rawConsumer.disconnect();
await rawProducer.disconnect();

const report = {
  bench: 'router',
  date: new Date().toISOString(),
  machine: { cores: cpus().length, node: process.version },
  kafka: infra.kafkaVersion,
  postgres: infra.postgresVersion,
  partitions: topics.find((t) => t.name === 'sms.requested.v1')!.partitions,
  throughput: { messages: backlog, messagesPerSecond: throughput, targetMessagesPerSecond: 20_000 },
  cpuPerMessage: {
    routerMicroseconds: Math.round((routerCpuMs * 1000) / backlog),
    routerPostgresBackendsMicroseconds: Math.round((routerBackendsCpuMs * 1000) / backlog),
    rawKafkajsLoopMicroseconds: Math.round((rawCpuMs * 1000) / rawTotal),
  },
  latencyAtFixedRate: {
    ratePerSecond: rate,
    seconds: rateSeconds,
    samples: latencies.length,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: pct(100),
  },
  rawKafkajsLoop: { messages: rawTotal, messagesPerSecond: raw },
  idle: {
    seconds: idleSeconds,
    routerCpuPercentOfACore: Number(idleCpuPercent.toFixed(2)),
    postgresBackendsCpuPercentOfACore: Number(idleBackendsCpuPercent.toFixed(2)),
  },
  routerVsRaw: Number((throughput / raw).toFixed(2)),
  /** Raw loop CPU per message over the router's (its process alone; with its backends). */
  routerVsRawCpu: Number((rawCpuMs / rawTotal / (routerCpuMs / backlog)).toFixed(2)),
  routerWithBackendsVsRawCpu: Number(
    (rawCpuMs / rawTotal / ((routerCpuMs + routerBackendsCpuMs) / backlog)).toFixed(2),
  ),
  peakRssMegabytes: Math.round(peakRss / 1_048_576),
  note: 'Router, broker, PostgreSQL and the load generator share the machine; RSS is the bench process (router + producer).',
};
console.log(JSON.stringify(report, null, 2));
writeReport(new URL('reports/router.json', import.meta.url), report);

await bus.close();
await db.close();
await deleteTopics(brokers, [rawOut.fullName]);
await workspace.close();
