// `npm run bench -- control`: control API throughput (one read, one write) and how long a change takes
// to reach another service's view. Real PostgreSQL and Kafka from `infra:up`; load from autocannon in a
// separate process, so the figures include HTTP parsing, auth, SQL, and (for the write) Kafka publishing.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controllerStateSchema, decodeJsonOrThrow, topicFor } from '@massivesms/contracts';
import { createControl } from '@massivesms/control/control';
import { createPgDb } from '@massivesms/db';
import { infraUp, loadInfraSettings, provisionTopics } from '@massivesms/infra';
import { KafkaBus } from '@massivesms/kafka';
import { startStateView } from '@massivesms/messaging';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import { createLogger } from '@massivesms/telemetry';
import pg from 'pg';
import { writeReport } from './report-file.ts';

const run = promisify(execFile);
const autocannon = fileURLToPath(new URL('../node_modules/.bin/autocannon', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 10);

const infra = await infraUp(loadInfraSettings(), 'massivesms_bench');
const namespace = `bench${Date.now().toString(36)}`;
await provisionTopics(infra.kafkaBrokers, namespace);
const schema = `bench_${namespace}`;
const admin = new pg.Client({ connectionString: infra.databaseUrl });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
const db = createPgDb({ url: infra.databaseUrl, schema, max: 10 });
const bus = new KafkaBus({ brokers: infra.kafkaBrokers.split(','), clientId: 'bench-control' });
const token = `op_${'b'.repeat(40)}`;
const control = await createControl({
  cell: 'us',
  db,
  bus,
  kms: new LocalKms(generateMasterKey()),
  log: createLogger({ service: 'control', level: 'warn' }),
  operatorToken: token,
  topicNamespace: namespace,
  guardUrl: async () => {},
});
const base = await control.listen(0, '127.0.0.1');
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
await fetch(`${base}/v1/controllers`, {
  method: 'POST',
  headers: auth,
  body: JSON.stringify({ id: 'acme', name: 'Acme', region: 'us' }),
});

async function load(method: string, path: string, body?: unknown) {
  const args = ['-c', '16', '-d', String(seconds), '-j', '-m', method, '-H', `authorization=Bearer ${token}`];
  if (body !== undefined) args.push('-H', 'content-type=application/json', '-b', JSON.stringify(body));
  const { stdout } = await run(autocannon, [...args, `${base}${path}`], { maxBuffer: 64 * 1024 * 1024 });
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  return {
    requestsPerSecond: Math.round(r.requests.average),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

const read = await load('GET', '/v1/controllers/acme');
const write = await load('PATCH', '/v1/controllers/acme', { name: 'Acme Corporation' });

// Change → view: publish instruction versions one by one and time until a separate view has each.
const viewBus = new KafkaBus({ brokers: infra.kafkaBrokers.split(','), clientId: 'bench-view' });
const view = await startStateView({
  bus: viewBus,
  topic: topicFor('us', 'controllers.v1', namespace),
  decode: (v) => decodeJsonOrThrow(controllerStateSchema, v),
  revision: (c) => c.revision,
});
await view.ready;
const instruction = {
  purposes: ['essential.service.notifications.sms'],
  subprocessors: ['telnyx', 'twilio'],
  retention: { contentDays: 7, metadataDays: 90 },
  storeContentAfterDispatch: false,
};
const delays: number[] = [];
for (let i = 0; i < 50; i++) {
  const started = performance.now();
  const res = await fetch(`${base}/v1/controllers/acme/instructions`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify(instruction),
  });
  const { version } = (await res.json()) as { version: number };
  while (view.get('acme')?.instruction?.version !== version) await new Promise((r) => setImmediate(r));
  delays.push(performance.now() - started);
}
delays.sort((a, b) => a - b);
const pct = (p: number) =>
  Number(delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))]!.toFixed(1));

const report = {
  bench: 'control',
  date: new Date().toISOString(),
  machine: { cores: (await import('node:os')).cpus().length, node: process.version },
  kafka: infra.kafkaVersion,
  postgres: infra.postgresVersion,
  durationSecondsPerLoad: seconds,
  read: { request: 'GET /v1/controllers/{id}', ...read },
  write: { request: 'PATCH /v1/controllers/{id} (row update + Kafka state + audit event)', ...write },
  changeToView: { samples: delays.length, p50Ms: pct(50), p99Ms: pct(99), maxMs: pct(100) },
};
console.table({ read, write });
console.log(
  `change → other service's view: p50 ${report.changeToView.p50Ms} ms, p99 ${report.changeToView.p99Ms} ms`,
);
writeReport(new URL('reports/control.json', import.meta.url), report);

await view.stop();
await viewBus.close();
await control.close();
await bus.close();
await db.close();
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();
