// `node services/webhooks/bench/cost.ts`: CPU per message of the webhooks service as deployed (its own
// `massivesms webhooks` process, measured from /proc) and of its PostgreSQL backends, on the local
// broker and PostgreSQL (issue 12). Each message has the four statuses of a delivered message
// (accepted, queued, sent, delivered; the endpoint subscribes to message.delivered only, as in the
// pipeline bench), so one in four becomes a delivery. The receiver (standardwebhooks + svix
// verification) runs in its own process and is not counted.
//   1. backlog: BENCH_WEBHOOKS_MESSAGES (default 4,000) messages' statuses produced, then the service
//      started and measured from its first delivery to its last;
//   2. paced: BENCH_WEBHOOKS_RATE messages/s (default 200) for BENCH_WEBHOOKS_SECONDS (default 15),
//      measured over the whole phase including idle gaps; latency from produce to delivered.
//   3. idle: CPU over 10 s with nothing to do.
// Prints a JSON report. BENCH_COUNT_STATEMENTS=1 adds the paced phase's statements per message.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ControllerState,
  cellTopics,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  type StatusEvent,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { infraUp, loadInfraSettings } from '@massivesms/infra';
import { deleteTopics, ensureTopics, KafkaBus } from '@massivesms/kafka';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import pg from 'pg';

const MESSAGES = Number(process.env.BENCH_WEBHOOKS_MESSAGES ?? 4_000);
const RATE = Number(process.env.BENCH_WEBHOOKS_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_WEBHOOKS_SECONDS ?? 15);
const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
// BENCH_COUNT_STATEMENTS=1: the paced phase's statements, by text, in the report (count-statements.cjs).
const countStatements = process.env.BENCH_COUNT_STATEMENTS === '1';
const countsFile = join(tmpdir(), `webhooks-cost-statements-${process.pid}.tsv`);
const progress = (line: string) => console.error(`webhooks cost: ${line}`);

const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

const infra = await infraUp(loadInfraSettings(), 'massivesms_bench');
const brokers = infra.kafkaBrokers.split(',');
const namespace = `benchwh${Date.now().toString(36)}`;
const topics = cellTopics('us', { namespace });
await ensureTopics(brokers, topics);
const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, namespace);
const schema = `bench_${namespace}`;
const admin = new pg.Client({
  connectionString: infra.databaseUrl,
  application_name: 'bench-webhooks-admin',
});
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
const bus = new KafkaBus({ brokers, clientId: 'bench-webhooks' });
const masterKey = generateMasterKey();
const keyring = new Keyring({ kms: new LocalKms(masterKey), store: new InMemoryControllerKeyStore() });
const children: ChildProcess[] = [];
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function spawnJsonLine<T>(
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(env ? { env } : {}),
  });
  children.push(child);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  child.stdout!.resume();
  return { child, info: JSON.parse(line.toString().split('\n')[0]!) as T };
}

try {
  // The controller and its endpoint, as the control plane publishes them.
  const wrapped = await keyring.create(toControllerId('acme'));
  const keys = await keyring.get(toControllerId('acme'));
  const controller: ControllerState = {
    controllerId: 'acme',
    name: 'Acme',
    region: 'us',
    revision: 1,
    keys: { dataKey: wrapped.dataKey, pseudonymKey: wrapped.pseudonymKey },
    instruction: null,
    updatedAt: new Date().toISOString(),
  };
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const receiver = await spawnJsonLine<{ origin: string; url: string }>([
    'simulate',
    'receiver',
    '--port',
    '0',
    '--secret',
    secret,
    '--name',
    'bench',
  ]);
  const endpoint: EndpointState = {
    endpointId: 'ep_bench',
    controllerId: 'acme',
    url: receiver.info.url,
    eventTypes: ['message.delivered'],
    enabled: true,
    revision: 1,
    secrets: [
      {
        secretId: 'sec_1',
        secret: encryptField(keys.dataKey, secret, {
          controllerId: toControllerId('acme'),
          recordId: 'ep_bench',
          field: 'secret:sec_1',
        }),
        createdAt: new Date().toISOString(),
        expiresAt: null,
      },
    ],
    updatedAt: new Date().toISOString(),
  };
  await bus.producer().send([
    { topic: topic('controllers.v1'), key: 'acme', value: encodeJson(controllerStateSchema, controller) },
    { topic: topic('endpoints.v1'), key: 'ep_bench', value: encodeJson(endpointStateSchema, endpoint) },
  ]);

  const statuses = ['accepted', 'queued', 'sent', 'delivered'] as const;
  /** The four status records of one message, as router (accepted) and dispatcher (the rest) write them. */
  const recordsOf = (messageId: string) => {
    const recipient = encryptField(keys.dataKey, '+14155552671', {
      controllerId: toControllerId('acme'),
      recordId: messageId,
      field: 'to',
    });
    return statuses.map((status, statusSeq) => {
      const event: StatusEvent = {
        eventId: randomUUID(),
        messageId,
        controllerId: 'acme',
        campaignId: 'c1',
        region: 'us',
        status,
        statusSeq,
        ...(status === 'accepted'
          ? {}
          : { carrier: 'telnyx' as const, carrierMessageId: randomUUID(), segments: 1, recipient }),
        occurredAt: new Date().toISOString(),
      };
      return {
        topic: topic('sms.status.v1'),
        key: `acme:${messageId}`,
        value: encodeJson(statusEventSchema, event),
        headers: { region: 'us', controller: 'acme', schema: 'sms.status.v1' },
      };
    });
  };
  const delivered = async (prefix: string) => {
    const { rows } = await admin
      .query<{ n: string }>(
        `SELECT count(*) AS n FROM ${schema}.webhook_deliveries WHERE state = 'delivered' AND message_id LIKE $1`,
        [`${prefix}%`],
      )
      .catch(() => ({ rows: [{ n: '0' }] })); // not migrated yet
    return Number(rows[0]!.n);
  };
  const backends = async () => {
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = 'massivesms-webhooks' AND datname = current_database()`,
    );
    return rows.map((r) => r.pid);
  };
  /** CPU seconds of the service's backends now, by pid (a backend opened later counts whole). */
  const pgCpu = async () => {
    const out = new Map<number, number>();
    for (const pid of await backends()) {
      try {
        out.set(pid, cpuSeconds(pid));
      } catch {
        // gone
      }
    }
    return out;
  };
  const pgBetween = (a: Map<number, number>, b: Map<number, number>) => {
    let sum = 0;
    for (const [pid, s] of b) sum += s - (a.get(pid) ?? 0);
    return sum;
  };

  // 1. Backlog.
  for (let i = 0; i < MESSAGES; i += 250)
    await bus
      .producer()
      .send(Array.from({ length: Math.min(250, MESSAGES - i) }, (_, k) => recordsOf(`b-${i + k}`)).flat());
  progress(`${MESSAGES} messages' statuses produced`);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const service = await (async () => {
    const child = spawn(process.execPath, [cli, 'webhooks'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: brokers.join(','),
        DATABASE_URL: `${infra.databaseUrl}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        KMS_MASTER_KEY: masterKey,
        TOPIC_NAMESPACE: namespace,
        WEBHOOKS_ALLOWLIST: '127.0.0.1',
        // As the pipeline bench runs it: one endpoint, so its bounds are lifted.
        WEBHOOKS_PER_ENDPOINT_CONCURRENCY: '64',
        WEBHOOKS_PER_ENDPOINT_RATE: '100000',
        WEBHOOKS_MAX_IN_FLIGHT: '512',
        ...(countStatements
          ? {
              NODE_OPTIONS: `--require ${fileURLToPath(new URL('count-statements.cjs', import.meta.url))}`,
              PG_COUNT_PATH: createRequire(import.meta.url).resolve('pg'),
              PG_COUNT_OUT: countsFile,
            }
          : {}),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
    return child;
  })();
  const pid = service.pid!;
  // From the first delivery (start-up, migrations and catching up with the directories excluded).
  while ((await delivered('b-')) === 0) await new Promise((r) => setTimeout(r, 20));
  const b0 = { at: performance.now(), cpu: cpuSeconds(pid), pg: await pgCpu(), n: await delivered('b-') };
  let n = b0.n;
  while (n < MESSAGES) {
    await new Promise((r) => setTimeout(r, 50));
    n = await delivered('b-');
  }
  const b1 = { at: performance.now(), cpu: cpuSeconds(pid), pg: await pgCpu() };
  const backlog = {
    messages: MESSAGES - b0.n,
    seconds: (b1.at - b0.at) / 1000,
    serviceCpuMsPerMessage: ((b1.cpu - b0.cpu) * 1000) / (MESSAGES - b0.n),
    postgresBackendsCpuMsPerMessage: (pgBetween(b0.pg, b1.pg) * 1000) / (MESSAGES - b0.n),
  };
  progress(`backlog: ${JSON.stringify(backlog)}`);

  // 2. Paced.
  await new Promise((r) => setTimeout(r, 2_000));
  if (countStatements) service.kill('SIGUSR2'); // starts the paced phase's count
  const produced = new Map<string, number>();
  const p0 = { at: performance.now(), cpu: cpuSeconds(pid), pg: await pgCpu() };
  const total = RATE * SECONDS;
  const tick = 50;
  const perTick = (RATE * tick) / 1000;
  for (let sent = 0, t = 0; sent < total; t++) {
    const due = Math.min(total, Math.round((t + 1) * perTick));
    const ids = Array.from({ length: due - sent }, (_, k) => `p-${sent + k}`);
    const at = Date.now();
    for (const id of ids) produced.set(id, at);
    await bus.producer().send(ids.flatMap(recordsOf));
    sent = due;
    const wait = p0.at + (t + 1) * tick - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  while ((await delivered('p-')) < total) await new Promise((r) => setTimeout(r, 50));
  const p1 = { at: performance.now(), cpu: cpuSeconds(pid), pg: await pgCpu() };
  if (countStatements) {
    service.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 200));
  }
  const { rows: finished } = await admin.query<{ message_id: string; finished_at: Date }>(
    `SELECT message_id, finished_at FROM ${schema}.webhook_deliveries WHERE message_id LIKE 'p-%'`,
  );
  const lat = finished
    .map((r) => r.finished_at.getTime() - produced.get(r.message_id)!)
    .sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  const statements = countStatements
    ? readFileSync(countsFile, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split('\t'))
        .map(([n, text]) => ({ perMessage: Number(n) / total, text }))
    : undefined;
  const paced = {
    messages: total,
    ...(statements
      ? { statementsPerMessage: statements.reduce((sum, s) => sum + s.perMessage, 0), statements }
      : {}),
    ratePerSecond: RATE,
    seconds: (p1.at - p0.at) / 1000,
    serviceCpuMsPerMessage: ((p1.cpu - p0.cpu) * 1000) / total,
    postgresBackendsCpuMsPerMessage: (pgBetween(p0.pg, p1.pg) * 1000) / total,
    produceToRecordedMs: { p50: q(0.5), p99: q(0.99), max: lat.at(-1) },
  };
  progress(`paced: ${JSON.stringify(paced)}`);

  // 3. Idle.
  await new Promise((r) => setTimeout(r, 1_000));
  const i0 = { at: performance.now(), cpu: cpuSeconds(pid), pg: await pgCpu() };
  await new Promise((r) => setTimeout(r, 10_000));
  const i1 = { at: performance.now(), cpu: cpuSeconds(pid), pg: await pgCpu() };
  const idle = {
    servicePercentOfACore: ((i1.cpu - i0.cpu) / ((i1.at - i0.at) / 1000)) * 100,
    postgresPercentOfACore: (pgBetween(i0.pg, i1.pg) / ((i1.at - i0.at) / 1000)) * 100,
  };
  const roundValue = (v: unknown): unknown =>
    typeof v === 'number'
      ? Number(v.toFixed(3))
      : Array.isArray(v)
        ? v.map(roundValue)
        : v && typeof v === 'object'
          ? round(v as Record<string, unknown>)
          : v;
  const round = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, roundValue(v)]));
  console.log(JSON.stringify(round({ date: new Date().toISOString(), backlog, paced, idle }), null, 1));
  service.kill('SIGTERM');
  await once(service, 'exit');
  receiver.child.kill('SIGTERM');
  await once(receiver.child, 'exit');
} finally {
  await bus.close();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  await deleteTopics(
    brokers,
    topics.map((t) => t.fullName),
  );
}
