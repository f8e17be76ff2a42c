// `npm run bench -- pipeline`: the whole pipeline on the real broker and PostgreSQL (DESIGN.md §10):
// request (`{cell}.sms.requested.v1`) → router → dispatcher → Telnyx simulator (its own process) →
// signed receipt back to the dispatcher's ingress → status events → webhooks service → signed
// webhook received and verified (standardwebhooks and svix) by the receiver simulator (its own
// process, `massivesms simulate receiver`). Router, dispatcher and webhooks run in this process.
//   1. throughput: BENCH_PIPELINE_MESSAGES requests produced at once, timed from the first produce
//      to the last verified webhook received;
//   2. latency: requests produced at each of BENCH_PIPELINE_RATES (per second) for
//      BENCH_PIPELINE_RATE_SECONDS, per message receiver receivedAt − produce time, p50/p99;
//   3. raw: an undici POST loop (BENCH_PIPELINE_RAW_CONCURRENCY in flight) to the same receiver with
//      signed bodies of the same size for BENCH_PIPELINE_RAW_SECONDS, requests/s.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KafkaBus } from '@massivesms/kafka';
import { startRouter } from '@massivesms/router/router';
import { createLogger } from '@massivesms/telemetry';
import type { ReceiverCounts, ReceiverSummary } from '@massivesms/testkit/receiver';
import { startWebhooks } from '@massivesms/webhooks/webhooks';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import {
  openBenchWorkspace,
  publishBenchController,
  publishBenchEndpoint,
  startBenchDispatcher,
  startSimulatorProcess,
  stopSimulatorProcess,
} from './fixtures.ts';

const messages = Number(process.env.BENCH_PIPELINE_MESSAGES ?? 3_000);
const rates = (process.env.BENCH_PIPELINE_RATES ?? '100,300')
  .split(',')
  .map((r) => Number(r.trim()))
  .filter((r) => r > 0);
const rateSeconds = Number(process.env.BENCH_PIPELINE_RATE_SECONDS ?? 10);
const rawSeconds = Number(process.env.BENCH_PIPELINE_RAW_SECONDS ?? 5);
const rawConcurrency = Number(process.env.BENCH_PIPELINE_RAW_CONCURRENCY ?? 32);
// A phase is reported incomplete when no webhook arrived for stallMs, or after capMs in all.
const stallMs = Number(process.env.BENCH_PIPELINE_STALL_MS ?? 15_000);
const capMs = Number(process.env.BENCH_PIPELINE_PHASE_CAP_MS ?? 60_000);
const workerOptions = {
  perEndpointConcurrency: 64,
  perEndpointRatePerSecond: 1_000_000,
  maxInFlight: 512,
};
const loadAtStart = loadavg();

const workspace = await openBenchWorkspace('benchp');
const { infra, brokers, namespace, topic, topics } = workspace;
// Router + dispatcher share one pool; the webhooks service has its own, as in its own process.
const db = workspace.db(10);
const webhooksDb = workspace.db(10);
// The dispatcher's receipt ingress parks receipts through its own small pool, as `massivesms dispatcher` does.
const ingressDb = workspace.db(4);
const bus = new KafkaBus({ brokers, clientId: 'bench-pipeline', partitionsConsumedConcurrently: 12 });
const webhooksBus = new KafkaBus({
  brokers,
  clientId: 'bench-pipeline-webhooks',
  partitionsConsumedConcurrently: 12,
});
const log = createLogger({ service: 'bench', level: 'warn', destination: process.stderr });

let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 200);
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
/** Busy and total CPU ticks of the whole machine so far, from /proc/stat (Linux). */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total }; // idle and iowait
}
const benchStarted = performance.now();

/** Resident set (now and peak) and CPU seconds used so far of another process, from /proc (Linux). */
function usageOf(
  pid: number | undefined,
): { rssMegabytes: number; peakRssMegabytes: number; cpuSeconds: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second here).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return {
      rssMegabytes: Math.round(kb('VmRSS') / 1024),
      peakRssMegabytes: Math.round(kb('VmHWM') / 1024),
      cpuSeconds: Number((ticks / 100).toFixed(1)),
    };
  } catch {
    return undefined;
  }
}

const kms = await publishBenchController(bus, topic('controllers.v1'));

const telnyxSim = await startSimulatorProcess<{ baseUrl: string; publicKey: string }>([
  'telnyx',
  '--api-key',
  'KEY_BENCH',
]);
const telnyx = telnyxSim.info;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
const receiverSim = await startSimulatorProcess<{ origin: string; url: string }>([
  'receiver',
  '--port',
  '0',
  '--secret',
  secret,
  '--name',
  'bench',
]);
const receiver = receiverSim.info;
await publishBenchEndpoint(bus, topic('endpoints.v1'), kms, {
  endpointId: 'ep_bench',
  url: receiver.url,
  secret,
});

const router = await startRouter({ cell: 'us', bus, db, kms, log, registry: new Registry(), namespace });
const { dispatcher, twilio } = await startBenchDispatcher({
  bus,
  db,
  ingressDb,
  kms,
  log,
  namespace,
  telnyx,
});
const webhooksRegistry = new Registry();
const webhooks = await startWebhooks({
  cell: 'us',
  bus: webhooksBus,
  db: webhooksDb,
  kms,
  log,
  namespace,
  registry: webhooksRegistry,
  ssrf: { allowList: ['127.0.0.1'] },
  worker: workerOptions,
});
/** Delivery attempts so far by outcome (delivered, retry, dead), from the service's own counter. */
async function attempts(): Promise<Record<string, number>> {
  const metric = await webhooksRegistry.getSingleMetric('webhooks_attempts_total')?.get();
  const out: Record<string, number> = { delivered: 0, retry: 0, dead: 0 };
  for (const v of metric?.values ?? []) {
    const outcome = String(v.labels.outcome);
    out[outcome] = (out[outcome] ?? 0) + v.value;
  }
  return out;
}

// Every status seen on the status topic (first sighting per message and status): the funnel and the
// stage breakdown of each phase.
const statusAt = new Map<string, Map<string, number>>();
const reader = await bus.readFromStart({
  topics: [topic('sms.status.v1')],
  onRecords: (records) => {
    const now = Date.now();
    for (const r of records) {
      const { messageId, status } = JSON.parse(r.value!.toString()) as { messageId: string; status: string };
      const at = statusAt.get(status) ?? new Map<string, number>();
      statusAt.set(status, at);
      if (!at.has(messageId)) at.set(messageId, now);
    }
  },
});
await reader.caughtUp;
const seen = (status: string) => statusAt.get(status) ?? new Map<string, number>();

const producedAt = new Map<string, number>();
let recipients = 0;
async function produce(ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1_000) {
    const chunk = ids.slice(i, i + 1_000);
    const at = Date.now();
    for (const id of chunk) producedAt.set(id, at);
    await bus.producer().send(
      chunk.map((messageId) => ({
        topic: topic('sms.requested.v1'),
        key: null,
        value: JSON.stringify({
          messageId,
          controllerId: 'acme',
          campaignId: 'bench',
          purpose: 'essential.service.notifications.sms',
          to: `+1415${String(2_000_000 + (recipients++ % 7_999_999))}`,
          from: '+14155550100',
          body: `Your order ${messageId} has shipped.`,
        }),
      })),
    );
  }
}

/**
 * Waits until the service has delivered `target` webhooks since `from` (its own attempt counter);
 * false when nothing more was delivered for stallMs (lost on the way: see the funnel) or after capMs.
 */
async function waitForWebhooks(from: number, target: number, startedAt: number): Promise<boolean> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const done = (await attempts()).delivered! - from;
    if (done >= target) return true;
    if (done !== last) [last, lastChange] = [done, Date.now()];
    if (Date.now() - lastChange > stallMs || Date.now() - startedAt > capMs) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Received {
  endpoint: string;
  webhookId: string;
  body: string;
  verified: { standardwebhooks: boolean; svix: boolean };
  status: number;
  receivedAt: string;
}
async function received(): Promise<{ received: Received[]; summary: ReceiverSummary }> {
  const response = await fetch(`${receiver.origin}/__admin/received`);
  return (await response.json()) as { received: Received[]; summary: ReceiverSummary };
}
/** First verified, answered-2xx webhook per message of a phase (ids starting with `prefix`): its receive time. */
function webhookTimes(records: readonly Received[], prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    if (!(r.verified.standardwebhooks && r.verified.svix && r.status >= 200 && r.status < 300)) continue;
    const messageId = (JSON.parse(r.body) as { data?: { messageId?: string } }).data?.messageId;
    if (messageId === undefined || !messageId.startsWith(prefix)) continue;
    const at = Date.parse(r.receivedAt);
    if (!out.has(messageId) || at < out.get(messageId)!) out.set(messageId, at);
  }
  return out;
}
const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
/** The latest time in a list (NaN, reported as null, when it is empty); no spread: lists can be long. */
const latest = (times: Iterable<number>) => {
  let max = Number.NaN;
  for (const t of times) if (!(t <= max)) max = t;
  return max;
};
const earliest = (times: Iterable<number>) => {
  let min = Number.NaN;
  for (const t of times) if (!(t >= min)) min = t;
  return min;
};
const ofPhase = (m: Map<string, number>, prefix: string) => [...m].filter(([id]) => id.startsWith(prefix));
/** How many messages of a phase reached each status on the topic, and the verified webhooks. */
function funnel(prefix: string, produced: number, webhooks: number) {
  const statuses: Record<string, number> = {};
  for (const [status, at] of statusAt) {
    const n = ofPhase(at, prefix).length;
    if (n > 0) statuses[status] = n;
  }
  return { produced, statuses, verifiedWebhooks: webhooks };
}
/** p50/p99 of (to − from) over the phase's messages that have both. */
function gap(ids: readonly string[], from: Map<string, number>, to: Map<string, number>) {
  const d = ids
    .filter((id) => from.has(id) && to.has(id))
    .map((id) => to.get(id)! - from.get(id)!)
    .sort((a, b) => a - b);
  return { p50Ms: percentile(d, 50), p99Ms: percentile(d, 99) };
}
/** Per-message stage latencies: request → carrier accepted (queued) → delivered status → webhook. */
function stages(ids: readonly string[], webhooks: Map<string, number>) {
  return {
    requestToCarrierAccepted: gap(ids, producedAt, seen('queued')),
    carrierAcceptedToDeliveredStatus: gap(ids, seen('queued'), seen('delivered')),
    deliveredStatusToWebhook: gap(ids, seen('delivered'), webhooks),
  };
}
loopDelay.enable();
const machineAtStart = machineTicks();

// 1. Sustained throughput: the whole batch at once.
const baseline = (await attempts()).delivered!;
const throughputIds = Array.from({ length: messages }, (_, i) => `t-${i}`);
const throughputStart = Date.now();
await produce(throughputIds);
const producedAllAt = Date.now();
const throughputComplete = await waitForWebhooks(baseline, messages, throughputStart);
const throughputWebhooks = webhookTimes((await received()).received, 't-');
const lastWebhookAt = latest(throughputWebhooks.values());
const lastOf = (m: Map<string, number>, prefix: string) => latest(ofPhase(m, prefix).map(([, at]) => at));
const throughput = {
  messages,
  verifiedWebhooks: throughputWebhooks.size,
  complete: throughputComplete && throughputWebhooks.size === messages,
  seconds: seconds(lastWebhookAt - throughputStart),
  webhooksPerSecond: Math.round(throughputWebhooks.size / ((lastWebhookAt - throughputStart) / 1000)),
  targetWebhooksPerSecond: 5_000,
  funnel: funnel('t-', messages, throughputWebhooks.size),
  secondsFromFirstProduceTo: {
    allProduced: seconds(producedAllAt - throughputStart),
    lastCarrierAccepted: seconds(lastOf(seen('queued'), 't-') - throughputStart),
    lastDeliveredStatus: seconds(lastOf(seen('delivered'), 't-') - throughputStart),
    lastWebhookReceived: seconds(lastWebhookAt - throughputStart),
  },
  stages: stages(throughputIds, throughputWebhooks),
};
console.error(`throughput: ${JSON.stringify(throughput)}`);

// 2. Latency at fixed rates, paced in 50 ms batches.
const latency = [];
for (const rate of rates) {
  const prefix = `r${rate}-`;
  const total = Math.round(rate * rateSeconds);
  const before = (await attempts()).delivered!;
  const start = Date.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((rate * (Date.now() - start)) / 1000) + 1);
    if (due > sent) {
      await produce(Array.from({ length: due - sent }, (_, k) => `${prefix}${sent + k}`));
      sent = due;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const lastProducedAt = Date.now();
  const complete = await waitForWebhooks(before, total, lastProducedAt);
  const times = webhookTimes((await received()).received, prefix);
  const ids = [...times.keys()].sort((a, b) => producedAt.get(a)! - producedAt.get(b)!);
  const latencies = ids.map((id) => times.get(id)! - producedAt.get(id)!);
  const sorted = [...latencies].sort((a, b) => a - b);
  const tenth = Math.max(1, Math.floor(latencies.length / 10));
  const median = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  const last = latest(times.values());
  // Delivery rate over the receiving window (first to last webhook): about the rate itself when the
  // pipeline keeps up, its capacity when it falls behind.
  const first = earliest(times.values());
  const achieved = Math.round((times.size - 1) / ((last - first) / 1000));
  const p50First = median(latencies.slice(0, tenth));
  const p50Last = median(latencies.slice(-tenth));
  const growthMs = p50Last !== null && p50First !== null ? p50Last - p50First : null;
  const drainMs = last - lastProducedAt;
  // Kept up: everything arrived, the latency did not grow over the run, and the pipeline was done
  // soon after the last request (a backlog shows as both growth and a long drain).
  const keptUp = complete && times.size === total && growthMs !== null && growthMs < 500 && drainMs <= 2_000;
  const row = {
    ratePerSecond: rate,
    seconds: rateSeconds,
    produced: total,
    producedPerSecond: Math.round(total / ((lastProducedAt - start) / 1000)),
    verifiedWebhooks: times.size,
    achievedWebhooksPerSecond: achieved,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
    p50MsFirstTenth: p50First,
    p50MsLastTenth: p50Last,
    drainAfterLastProduceMs: drainMs,
    keptUp,
    verdict:
      `${keptUp ? 'kept up' : 'did NOT keep up'} with ${rate}/s: ${times.size}/${total} webhooks, ` +
      `${achieved}/s while receiving, median latency ${growthMs !== null && growthMs >= 0 ? '+' : ''}${growthMs} ms ` +
      `from first to last tenth, last one ${drainMs} ms after the last request` +
      (complete ? '' : ' (gave up waiting: see funnel)'),
    funnel: funnel(prefix, total, times.size),
    stages: stages(
      Array.from({ length: total }, (_, i) => `${prefix}${i}`),
      times,
    ),
  };
  console.error(`latency: ${JSON.stringify(row)}`);
  latency.push(row);
}
loopDelay.disable();
const pipelineReceived = await received();
const finalAttempts = await attempts();
const sampleBody = pipelineReceived.received.find((r) => r.status === 200)?.body ?? '{}';
await fetch(`${receiver.origin}/__admin/received`, { method: 'DELETE' });

// Receipts the Telnyx simulator posted to the dispatcher's ingress and gave up on (no 2xx after its retries).
const telnyxLedger = (await (
  await fetch(`${telnyx.baseUrl.replace(/\/v2$/, '')}/__admin/ledger`)
).json()) as {
  entries: unknown[];
  deliveries: { kind: string; delivered: boolean; attempts: { status?: number; error?: string }[] }[];
};
const receiptAttempts = telnyxLedger.deliveries.flatMap((d) => d.attempts);
const receipts = {
  carrierAccepted: telnyxLedger.entries.length,
  receiptsPosted: telnyxLedger.deliveries.length,
  receiptsGivenUp: telnyxLedger.deliveries.filter((d) => !d.delivered).length,
  receiptAttempts: receiptAttempts.length,
  failedAttemptsByCause: receiptAttempts
    .filter((a) => !(a.status !== undefined && a.status >= 200 && a.status < 300))
    .reduce<Record<string, number>>((acc, a) => {
      const cause = a.status !== undefined ? `HTTP ${a.status}` : (a.error ?? 'unknown');
      acc[cause] = (acc[cause] ?? 0) + 1;
      return acc;
    }, {}),
};
const pipelineCpu = process.cpuUsage();
const machineAtEnd = machineTicks();
const pipelineWall = (performance.now() - benchStarted) / 1000;
const telnyxUsage = usageOf(telnyxSim.child.pid);
const receiverUsageBeforeRaw = usageOf(receiverSim.child.pid);

// 3. Raw limit: undici POST loop, same receiver, same endpoint, signed bodies of the same size.
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
const hookPath = new URL(receiver.url).pathname;
const pool = new Pool(receiver.origin, { connections: rawConcurrency });
let rawSent = 0;
let rawOk = 0;
let rawNon2xx = 0;
let rawErrors = 0;
const rawLatencies: number[] = [];
const rawStart = performance.now();
const rawEnd = rawStart + rawSeconds * 1000;
await Promise.all(
  Array.from({ length: rawConcurrency }, async () => {
    while (performance.now() < rawEnd) {
      const webhookId = `msg_raw${rawSent++}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = createHmac('sha256', key)
        .update(`${webhookId}.${timestamp}.${sampleBody}`)
        .digest('base64');
      const t = performance.now();
      try {
        const response = await pool.request({
          method: 'POST',
          path: hookPath,
          headers: {
            'content-type': 'application/json',
            'webhook-id': webhookId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': `v1,${signature}`,
            'user-agent': 'MassiveSMS-Webhooks/1',
          },
          body: sampleBody,
        });
        await response.body.dump();
        if (response.statusCode >= 200 && response.statusCode < 300) rawOk++;
        else rawNon2xx++;
      } catch {
        rawErrors++;
      }
      rawLatencies.push(performance.now() - t);
    }
  }),
);
const rawElapsed = (performance.now() - rawStart) / 1000;
await pool.close();
const rawSummary = (await received()).summary;
rawLatencies.sort((a, b) => a - b);
const raw = {
  seconds: Number(rawElapsed.toFixed(2)),
  concurrency: rawConcurrency,
  bodyBytes: Buffer.byteLength(sampleBody),
  requests: rawOk + rawNon2xx + rawErrors,
  ok: rawOk,
  non2xx: rawNon2xx,
  errors: rawErrors,
  requestsPerSecond: Math.round(rawOk / rawElapsed),
  p50Ms: Number(percentile(rawLatencies, 50)!.toFixed(1)),
  p99Ms: Number(percentile(rawLatencies, 99)!.toFixed(1)),
};

const counts = (s: ReceiverCounts) => ({
  received: s.received,
  delivered: s.delivered,
  signatureFailures: s.signatureFailures,
});
const rejectedBy = (pkg: 'standardwebhooks' | 'svix') =>
  pipelineReceived.received.filter((r) => !r.verified[pkg]).length;
const signatureFailures = pipelineReceived.summary.signatureFailures + rawSummary.signatureFailures;
clearInterval(rssTimer);
const rssNow = process.memoryUsage().rss;
const ms = (ns: number) => Math.round(ns / 1e6);
const report = {
  bench: 'pipeline',
  date: new Date().toISOString(),
  machine: {
    cores: cpus().length,
    node: process.version,
    // An object, not an array: the written report then needs no reformatting by biome.
    loadAverageAtStart: {
      oneMinute: Number(loadAtStart[0]!.toFixed(2)),
      fiveMinutes: Number(loadAtStart[1]!.toFixed(2)),
      fifteenMinutes: Number(loadAtStart[2]!.toFixed(2)),
    },
  },
  kafka: infra.kafkaVersion,
  postgres: infra.postgresVersion,
  partitions: topics.find((t) => t.name === 'sms.requested.v1')!.partitions,
  throughput,
  latencyAtFixedRate: latency,
  latencyTarget: { ratePerSecond: 1_000, p99Ms: 500 },
  rawUndiciPostLoop: raw,
  pipelineVsRaw: Number((throughput.webhooksPerSecond / raw.requestsPerSecond).toFixed(3)),
  receiverVerification: {
    pipeline: counts(pipelineReceived.summary),
    raw: counts(rawSummary),
    rejectedByStandardwebhooks: rejectedBy('standardwebhooks'),
    rejectedBySvix: rejectedBy('svix'),
    signatureFailures,
    ok: signatureFailures === 0,
  },
  webhooksService: {
    attempts: finalAttempts,
    worker: workerOptions,
    ssrfAllowList: '127.0.0.1',
  },
  telnyxReceipts: receipts,
  cpuDuringPipelinePhases: {
    wallSeconds: Number(pipelineWall.toFixed(1)),
    machineBusyPercent: Math.round(
      (100 * (machineAtEnd.busy - machineAtStart.busy)) / (machineAtEnd.total - machineAtStart.total),
    ),
    benchProcessCpuSeconds: Number(((pipelineCpu.user + pipelineCpu.system) / 1e6).toFixed(1)),
    telnyxSimulatorCpuSeconds: telnyxUsage?.cpuSeconds,
    receiverSimulatorCpuSeconds: receiverUsageBeforeRaw?.cpuSeconds,
    benchEventLoopDelay: {
      p50Ms: ms(loopDelay.percentile(50)),
      p99Ms: ms(loopDelay.percentile(99)),
      maxMs: ms(loopDelay.max),
    },
  },
  memory: {
    benchProcessRssMegabytesAtEnd: Math.round(rssNow / 1_048_576),
    benchProcessPeakRssMegabytes: Math.round(Math.max(peakRss, rssNow) / 1_048_576),
    telnyxSimulator: telnyxUsage && {
      rssMegabytes: telnyxUsage.rssMegabytes,
      peakRssMegabytes: telnyxUsage.peakRssMegabytes,
    },
    receiverSimulator: (({ cpuSeconds: _, ...m }) => m)(usageOf(receiverSim.child.pid)!),
    targetPerServiceProcessMegabytes: 300,
  },
  note:
    'Router, dispatcher and webhooks service run in the bench process (with the load generator and a status-topic ' +
    'reader for the funnel and stage breakdown); the Telnyx simulator and the webhook receiver each run in their ' +
    'own process (massivesms simulate); broker and PostgreSQL are local: all on the same 2 cores. Carrier rate ' +
    'limits lifted; webhooks worker limits raised for the one bench endpoint (webhooksService.worker). The raw loop ' +
    'posts to the same receiver endpoint after the pipeline phases. Latency = receiver receivedAt − request produce ' +
    'time. A phase that stalls (no webhook for BENCH_PIPELINE_STALL_MS) or runs past BENCH_PIPELINE_PHASE_CAP_MS is ' +
    'reported incomplete with its funnel; stages are measured by a status-topic reader in this process, so ' +
    'deliveredStatusToWebhook includes that reader’s lag. machineBusyPercent covers the pipeline phases (all processes).',
};
console.log(JSON.stringify(report, null, 2));
writeFileSync(new URL('reports/pipeline.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

await reader.stop();
await webhooks.stop();
await dispatcher.stop();
await router.stop();
await webhooksBus.close();
await bus.close();
for (const sim of [telnyxSim, receiverSim]) await stopSimulatorProcess(sim);
await twilio.close();
await webhooksDb.close();
await db.close();
await ingressDb.close();
await workspace.close();
