// `npm run bench -- dispatch`: the dispatcher alone on the real broker and PostgreSQL. The router
// (in this process) routes every request first and is stopped; then the dispatcher starts on the
// routed records and sends them to the Telnyx simulator (`massivesms simulate telnyx`, its own
// process like a remote carrier), whose signed receipts (`message.sent`, `message.finalized`)
// come back to the dispatcher's ingress. All on the same 2 cores. Throughput from the dispatcher's
// start to the last message accepted by the carrier (`queued`, or a receipt that overtook it); CPU per message from the dispatcher's start
// to the last `delivered` status: this process (the dispatcher and an idle Twilio simulator; its
// status reader's share is measured by reading the statuses again and taken off) from
// process.cpuUsage(), the simulator and the dispatcher's PostgreSQL backends
// (by application_name) from /proc/<pid>/stat. Start-up (migrations, directory) is included.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { statusEventSchema } from '@massivesms/contracts';
import { KafkaBus } from '@massivesms/kafka';
import { startRouter } from '@massivesms/router/router';
import { createLogger } from '@massivesms/telemetry';
import { Registry } from 'prom-client';
import {
  openBenchWorkspace,
  publishBenchController,
  startBenchDispatcher,
  startSimulatorProcess,
  stopSimulatorProcess,
} from './fixtures.ts';
import { writeReport } from './report-file.ts';

const messages = Number(process.env.BENCH_DISPATCH_MESSAGES ?? 5_000);
const workspace = await openBenchWorkspace('benchd');
const { infra, brokers, namespace, topic } = workspace;
const routerDb = workspace.db(4, 'bench-router');
const db = workspace.db(10, 'bench-dispatcher');
const ingressDb = workspace.db(4, 'bench-dispatcher-ingress');
const bus = new KafkaBus({ brokers, clientId: 'bench-dispatch', partitionsConsumedConcurrently: 12 });
const log = createLogger({ service: 'bench', level: 'warn', destination: process.stderr });

/** utime + stime of a process so far, in seconds (clock ticks: 100 per second here); 0 when gone. */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
/** The dispatcher's PostgreSQL backends (its two pools) and their CPU seconds so far. */
async function backendCpu(): Promise<Map<number, number>> {
  const { rows } = await routerDb.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name IN ('bench-dispatcher', 'bench-dispatcher-ingress')`,
  );
  return new Map(rows.map((r) => [r.pid, cpuSecondsOf(r.pid)]));
}

const kms = await publishBenchController(bus, topic('controllers.v1'));

const telnyxSim = await startSimulatorProcess<{ baseUrl: string; publicKey: string }>([
  'telnyx',
  '--api-key',
  'KEY_BENCH',
]);
const telnyx = telnyxSim.info;
const ledgerSize = async () =>
  (
    (await (await fetch(`${telnyx.baseUrl.replace(/\/v2$/, '')}/__admin/ledger`)).json()) as {
      entries: unknown[];
    }
  ).entries.length;

// Phase 1: the router routes every request, then stops.
let routed = 0;
const dispatchReader = await bus.readFromStart({
  topics: [topic('sms.dispatch.v1')],
  onRecords: (records) => {
    routed += records.length;
  },
});
await dispatchReader.caughtUp;
const router = await startRouter({
  cell: 'us',
  bus,
  db: routerDb,
  kms,
  log,
  registry: new Registry(),
  namespace,
});
const routeStarted = performance.now();
for (let i = 0; i < messages; i += 1_000) {
  await bus.producer().send(
    Array.from({ length: Math.min(1_000, messages - i) }, (_, k) => ({
      topic: topic('sms.requested.v1'),
      key: null,
      value: JSON.stringify({
        messageId: `d-${i + k}`,
        controllerId: 'acme',
        campaignId: 'bench',
        purpose: 'essential.service.notifications.sms',
        to: `+1415${String(2_000_000 + i + k)}`,
        from: '+14155550100',
        body: `Your order ${i + k} has shipped.`,
      }),
    })),
  );
}
const routeDeadline = Date.now() + 600_000;
while (routed < messages && Date.now() < routeDeadline) await new Promise((r) => setTimeout(r, 50));
const routeSeconds = (performance.now() - routeStarted) / 1000;
await router.stop();
await dispatchReader.stop();

// Phase 2: the dispatcher.
// Carrier accepted: `queued`, or a receipt's `sent`/`delivered` first when it overtook the send's
// answer (then the message never has a `queued` status).
const accepted = new Set<string>();
let delivered = 0;
let queued = 0;
let queuedAt = 0;
const reader = await bus.readFromStart({
  topics: [topic('sms.status.v1')],
  onRecords: (records) => {
    for (const r of records) {
      const event = statusEventSchema.parse(JSON.parse(r.value!.toString()));
      const status = event.status;
      if (status === 'queued' || status === 'sent' || status === 'delivered') accepted.add(event.messageId);
      if (status === 'delivered') delivered++;
      if (status === 'queued') queued++;
    }
    if (accepted.size >= messages && queuedAt === 0) queuedAt = performance.now();
  },
});
await reader.caughtUp;
const simCpu0 = cpuSecondsOf(telnyxSim.child.pid!);
const selfCpu0 = process.cpuUsage();
const startedAt = performance.now();
const { dispatcher, twilio } = await startBenchDispatcher({
  bus,
  db,
  ingressDb,
  kms,
  log,
  namespace,
  telnyx,
});
const deadline = Date.now() + 600_000;
// Backends are sampled while they live (the pool closes idle ones after a while).
const backends = new Map<number, number>();
while ((accepted.size < messages || delivered < messages) && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 250));
  for (const [pid, s] of await backendCpu()) backends.set(pid, s);
}
const selfCpu = process.cpuUsage(selfCpu0);
const simCpu = cpuSecondsOf(telnyxSim.child.pid!) - simCpu0;
for (const [pid, s] of await backendCpu()) backends.set(pid, s);
const pgCpu = [...backends.values()].reduce((a, b) => a + b, 0);
const seconds = (queuedAt - startedAt) / 1000;
const perMessage = (cpuSeconds: number) => Number(((cpuSeconds * 1000) / messages).toFixed(3));
const processMs = perMessage((selfCpu.user + selfCpu.system) / 1e6);
const telnyxLedgerSize = await ledgerSize();
await reader.stop();
// This process's status reader is not the dispatcher's work: its cost is measured by reading the
// same statuses again (from the start, decoded the same way) and taken off.
let reread = 0;
const rereadCpu0 = process.cpuUsage();
const again = await bus.readFromStart({
  topics: [topic('sms.status.v1')],
  onRecords: (records) => {
    for (const r of records) {
      statusEventSchema.parse(JSON.parse(r.value!.toString()));
      reread++;
    }
  },
});
await again.caughtUp;
const readerCpu = process.cpuUsage(rereadCpu0);
await again.stop();
await dispatcher.stop();
await ingressDb.close();
await db.close();
// The dispatcher's backends exit (flushing their statistics) once their connections closed.
await new Promise((r) => setTimeout(r, 1_000));
const { rows: tableStats } = await routerDb.query<{
  relname: string;
  ins: number;
  upd: number;
  hot: number;
  del: number;
}>(
  `SELECT relname, n_tup_ins::int AS ins, n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot, n_tup_del::int AS del
     FROM pg_stat_user_tables WHERE schemaname = $1 AND relname LIKE 'dispatcher_%' ORDER BY relname`,
  [workspace.schema],
);
const tableWrites = Object.fromEntries(
  tableStats
    .filter((t) => t.ins + t.upd + t.del > 0)
    .map((t) => [t.relname, { inserts: t.ins, updates: t.upd, hotUpdates: t.hot, deletes: t.del }]),
);
const readerMs = perMessage((readerCpu.user + readerCpu.system) / 1e6);
const report = {
  bench: 'dispatch',
  date: new Date().toISOString(),
  machine: { cores: cpus().length, node: process.version },
  kafka: infra.kafkaVersion,
  messages,
  routedPerSecond: Math.round(messages / routeSeconds),
  carrierAccepted: accepted.size,
  acceptedWithoutQueued: accepted.size - queued,
  delivered,
  dispatchToCarrierAcceptedPerSecond: Math.round(accepted.size / seconds),
  cpuMsPerMessage: {
    dispatcherProcess: Number((processMs - readerMs).toFixed(3)),
    benchProcess: processMs,
    statusReader: readerMs,
    dispatcherPostgresBackends: perMessage(pgCpu),
    telnyxSimulator: perMessage(simCpu),
  },
  telnyxLedger: telnyxLedgerSize,
  tableWrites,
  statusesReread: reread,
  note: 'The router routes every request first and stops; then the dispatcher (this process, with its status reader and an idle Twilio simulator; dispatcherProcess = benchProcess - statusReader, the reader measured by reading the statuses again) sends to the Telnyx simulator (another process) and applies its two receipts per message; broker and PostgreSQL on the same 2 cores; rate limits lifted. CPU from the dispatcher start (migrations included) to the last delivered status.',
};
console.log(JSON.stringify(report, null, 2));
writeReport(new URL('reports/dispatch.json', import.meta.url), report);

await bus.close();
await stopSimulatorProcess(telnyxSim);
await twilio.close();
await routerDb.close();
await workspace.close();
