// The fault-injection suite's pipeline (issue 10): router, dispatcher and webhooks as the processes
// `massivesms` starts, on real Kafka and PostgreSQL, with both carrier simulators and a webhook
// receiver; two controllers (acme may fail over from Telnyx to Twilio, solo may use Telnyx only),
// one endpoint each. A scenario injects its fault, waits for every request's terminal webhook, and
// asks the invariant checker (libs/testkit) for a clean report. On request the audit service (the
// ledger) and the control plane (its API) run as processes too.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type ControllerState,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  instructionRef,
  topicFor,
  webhookEventTypes,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import {
  checkRunUntilClean,
  createTestSchema,
  createTestTopics,
  eventually,
  formatReport,
  freePort,
  type InvariantReport,
  type RunSources,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
  webhookStatusChange,
} from '@massivesms/testkit';
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { startWebhookReceiver, type WebhookReceiver } from '@massivesms/testkit/receiver';
import { expect } from 'vitest';

const cli = fileURLToPath(new URL('../../massivesms.ts', import.meta.url));
const SID = `AC${'7'.repeat(32)}`;
const PURPOSE = 'essential.service.notifications.sms';
/** The sender of every request: the number recipients answer STOP, START or HELP to. */
export const SENDER = '+14155551000';
const TERMINAL = ['delivered', 'undelivered', 'failed', 'rejected', 'suppressed', 'expired'].map(
  (s) => `message.${s}`,
);

export type Service = 'router' | 'dispatcher' | 'webhooks' | 'audit' | 'control';
/** The message path: what every scenario runs (and the faults hit). */
export const SERVICES: readonly Service[] = ['router', 'dispatcher', 'webhooks'];

/** The control plane's operator token in the pipeline (CONTROL_OPERATOR_TOKEN). */
export const OPERATOR_TOKEN = `op_${'f'.repeat(40)}`;

/** One request as a scenario writes it; the rest (campaign, purpose, sender) is the pipeline's. */
export interface RequestInput {
  readonly messageId: string;
  readonly controllerId: string;
  readonly to: string;
  readonly body: string;
  readonly validUntil?: string;
}

/** One row of the audit ledger, as stored. */
export interface LedgerRow {
  readonly seq: number;
  readonly eventId: string;
  readonly controllerId: string | null;
  /** The exact bytes hashed into the chain (canonical JSON of the event). */
  readonly entry: Buffer;
}

export interface FaultPipelineOptions {
  /** A broker of the scenario's own (one it may stop); default the shared test broker. */
  readonly brokers?: readonly string[];
  /** Extra environment for every service (on top of the suite's short reconciliation deadlines). */
  readonly env?: Readonly<Record<string, string>>;
  /** Services to run besides the message path: `audit` (the ledger), `control` (API on `controlUrl`). */
  readonly also?: readonly ('audit' | 'control')[];
}

export interface FaultPipeline {
  readonly topics: TestTopics;
  readonly schema: TestSchema;
  readonly db: Db;
  readonly bus: KafkaBus;
  readonly telnyx: TelnyxSimulator;
  readonly twilio: TwilioSimulator;
  readonly receiver: WebhookReceiver;
  /** The dispatcher's carrier ingress (receipts, `/inbound/telnyx`, `/inbound/twilio`). */
  readonly dispatcherUrl: string;
  /** The control API, when `also` has `control` (operator token OPERATOR_TOKEN). */
  readonly controlUrl: string;
  /** Where a service serves `/metrics`, `/healthz` and `/readyz` (and audit and webhooks their internal routes). */
  opsUrl(service: Service): string;
  /** The KMS master key every service runs with (KMS_MASTER_KEY). */
  readonly masterKey: string;
  /** Every service's output, to print when a scenario fails. */
  readonly logs: string[];
  topic(name: Parameters<typeof topicFor>[1]): string;
  start(service: Service): void;
  /** SIGTERM, and waits for the exit. */
  stop(service: Service): Promise<void>;
  /** SIGKILL (no shutdown at all), and waits for the exit. */
  kill(service: Service): Promise<void>;
  pid(service: Service): number | undefined;
  /** Produces `count` requests of `controllerId` (ids `<prefix>-<n>`); returns their ids. */
  produce(prefix: string, count: number, controllerId?: 'acme' | 'solo'): Promise<string[]>;
  /** Produces requests written by the scenario (its own numbers and bodies, and headers if given). */
  produceRequests(
    requests: readonly RequestInput[],
    headers?: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** The audit ledger in seq order (when `also` has `audit`). */
  ledger(): Promise<LedgerRow[]>;
  /** Publishes a controller's endpoint again as a new revision (what control does when it is updated). */
  republishEndpoint(controllerId: 'acme' | 'solo'): Promise<void>;
  /** Distinct terminal webhooks the receiver acknowledged (2xx). */
  terminalWebhooks(): number;
  /** Waits (bounded) until `count` terminal webhooks were acknowledged. */
  awaitTerminalWebhooks(count: number, withinMs: number): Promise<void>;
  /** The invariant checker's report, retried until clean or `withinMs` passed. */
  check(withinMs?: number): Promise<InvariantReport>;
  readonly formatReport: typeof formatReport;
  close(): Promise<void>;
}

/**
 * The local ports of a process's TCP connections to `remotePort` (its PostgreSQL connections), from
 * /proc: the socket inodes among its file descriptors, looked up in /proc/net/tcp{,6}.
 */
export function connectionPorts(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return []; // the process has exited
  }
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match) inodes.add(match[1]!);
    } catch {
      // closed between the listing and the readlink
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || !inodes.has(fields[9]!)) continue;
      const local = Number.parseInt(fields[1]!.split(':')[1]!, 16);
      const remote = Number.parseInt(fields[2]!.split(':')[1]!, 16);
      if (remote === remotePort) ports.push(local);
    }
  }
  return ports;
}

export async function startFaultPipeline(options: FaultPipelineOptions = {}): Promise<FaultPipeline> {
  const topics = createTestTopics(options.brokers ? { brokers: options.brokers } : {});
  await topics.provisionCell('us', 3);
  const schema = await createTestSchema('faults');
  const db = createPgDb({ url: schema.url, schema: schema.schema });
  const telnyx = await startTelnyxSimulator({ apiKey: 'KEY_FAULTS' });
  const twilio = await startTwilioSimulator({ accountSid: SID, authToken: 'token-faults' });
  const receiver = await startWebhookReceiver();
  const bus = new KafkaBus({ brokers: topics.brokers, clientId: 'faults-test', log: testKafkaLog });
  const masterKey = generateMasterKey();
  const dispatcherPort = await freePort();
  const controlPort = await freePort();
  // Control reads deliveries and the ledger from the webhooks and audit services' internal routes.
  const webhooksPort = await freePort();
  const auditPort = await freePort();
  const routerPort = await freePort();
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, topics.namespace);
  const processes = new Map<Service, ChildProcess>();
  const logs: string[] = [];

  // The control plane's part: two controllers, one endpoint each (every message event).
  const keyring = new Keyring({ kms: new LocalKms(masterKey), store: new InMemoryControllerKeyStore() });
  const records = [];
  const endpoints = new Map<string, EndpointState>();
  for (const [controllerId, subprocessors] of [
    ['acme', ['telnyx', 'twilio']],
    ['solo', ['telnyx']],
  ] as const) {
    const wrapped = await keyring.create(toControllerId(controllerId));
    const keys = await keyring.get(toControllerId(controllerId));
    const sha = 'f'.repeat(64);
    const controller: ControllerState = {
      controllerId,
      name: controllerId,
      region: 'us',
      revision: 1,
      keys: { dataKey: wrapped.dataKey, pseudonymKey: wrapped.pseudonymKey },
      instruction: {
        id: `${controllerId}-sms`,
        version: 1,
        sha256: sha,
        ref: instructionRef(`${controllerId}-sms`, 1, sha),
        publishedAt: new Date().toISOString(),
        document: { purposes: [PURPOSE], subprocessors: [...subprocessors] },
      },
      updatedAt: new Date().toISOString(),
    };
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const endpointId = `ep_${controllerId}`;
    const endpoint: EndpointState = {
      endpointId,
      controllerId,
      url: receiver.endpoint(controllerId, { secrets: [secret] }),
      eventTypes: webhookEventTypes.filter((t) => t.startsWith('message.')),
      enabled: true,
      revision: 1,
      secrets: [
        {
          secretId: 'sec_1',
          secret: encryptField(keys.dataKey, secret, {
            controllerId: toControllerId(controllerId),
            recordId: endpointId,
            field: 'secret:sec_1',
          }),
          createdAt: new Date().toISOString(),
          expiresAt: null,
        },
      ],
      updatedAt: new Date().toISOString(),
    };
    endpoints.set(controllerId, endpoint);
    records.push(
      {
        topic: topic('controllers.v1'),
        key: controllerId,
        value: encodeJson(controllerStateSchema, controller),
      },
      { topic: topic('endpoints.v1'), key: endpointId, value: encodeJson(endpointStateSchema, endpoint) },
    );
  }
  await bus.producer().send(records);

  const sources: RunSources = {
    bus,
    cell: 'us',
    namespace: topics.namespace,
    carriers: [telnyx.ledger, twilio.ledger],
    receiver,
  };

  function start(service: Service): void {
    const ports: Partial<Record<Service, number>> = {
      router: routerPort,
      dispatcher: dispatcherPort,
      control: controlPort,
      webhooks: webhooksPort,
      audit: auditPort,
    };
    const port = String(ports[service] ?? 0);
    const child = spawn(process.execPath, [cli, service], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: port,
        LOG_LEVEL: 'warn',
        KMS_MASTER_KEY: masterKey,
        TOPIC_NAMESPACE: topics.namespace,
        // A killed member's partitions move after 6 s (the broker's minimum), not 30 s.
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        SHUTDOWN_TIMEOUT_MS: '5000',
        TELNYX_API_KEY: 'KEY_FAULTS',
        TELNYX_PUBLIC_KEY: telnyx.publicKey,
        TELNYX_BASE_URL: telnyx.baseUrl,
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: 'token-faults',
        TWILIO_BASE_URL: twilio.baseUrl,
        DISPATCHER_PUBLIC_BASE_URL: `http://127.0.0.1:${dispatcherPort}`,
        // The documented reconciliation policy on a test's time scale.
        DISPATCHER_SENDING_TIMEOUT_MS: '5000',
        // Shorter than the sending timeout allows: two carrier calls and a Retry-After pause.
        CARRIER_TIMEOUT_MS: '2000',
        DISPATCHER_MAX_RETRY_AFTER_MS: '500',
        DISPATCHER_QUARANTINE_MS: '20000',
        DISPATCHER_RECEIPT_DEADLINE_MS: '5000',
        DISPATCHER_FINALISE_AFTER_MS: '30000',
        WEBHOOKS_ALLOWLIST: '127.0.0.1',
        CONTROL_WEBHOOK_ALLOWLIST: '127.0.0.1',
        CONTROL_OPERATOR_TOKEN: OPERATOR_TOKEN,
        WEBHOOKS_INTERNAL_URL: `http://127.0.0.1:${webhooksPort}`,
        AUDIT_INTERNAL_URL: `http://127.0.0.1:${auditPort}`,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout!, child.stderr!])
      stream.on('data', (chunk: Buffer) => logs.push(`[${service} ${child.pid}] ${chunk.toString()}`));
    processes.set(service, child);
  }

  async function end(service: Service, signal: NodeJS.Signals): Promise<void> {
    const child = processes.get(service);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  const terminalWebhooks = () =>
    new Set(
      receiver.received
        .filter((r) => r.status >= 200 && r.status < 300)
        .filter((r) => TERMINAL.includes(webhookStatusChange(r.body)?.type ?? ''))
        .map((r) => r.webhookId),
    ).size;

  let sequence = 0;
  const running: Service[] = [...SERVICES, ...(options.also ?? [])];
  for (const service of running) start(service);
  const request = (r: RequestInput) => ({
    topic: topic('sms.requested.v1'),
    key: null,
    value: JSON.stringify({
      messageId: r.messageId,
      controllerId: r.controllerId,
      campaignId: 'faults',
      purpose: PURPOSE,
      to: r.to,
      from: SENDER,
      body: r.body,
      ...(r.validUntil ? { validUntil: r.validUntil } : {}),
    }),
  });
  return {
    topics,
    schema,
    db,
    bus,
    telnyx,
    twilio,
    receiver,
    dispatcherUrl: `http://127.0.0.1:${dispatcherPort}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    masterKey,
    opsUrl: (service) =>
      `http://127.0.0.1:${{ router: routerPort, dispatcher: dispatcherPort, webhooks: webhooksPort, audit: auditPort, control: controlPort }[service]}`,
    logs,
    topic,
    start,
    stop: (service) => end(service, 'SIGTERM'),
    kill: (service) => end(service, 'SIGKILL'),
    pid: (service) => processes.get(service)?.pid,
    async produce(prefix, count, controllerId = 'acme') {
      const ids = Array.from({ length: count }, (_, n) => `${prefix}-${n}`);
      await bus.producer().send(
        ids.map((messageId) =>
          request({
            messageId,
            controllerId,
            to: `+1415${String(2_000_000 + sequence++)}`,
            body: `Your order ${messageId} has shipped.`,
          }),
        ),
      );
      return ids;
    },
    async produceRequests(requests, headers) {
      await bus.producer().send(requests.map((r) => ({ ...request(r), ...(headers ? { headers } : {}) })));
    },
    async ledger() {
      const { rows } = await db.query<{
        seq: string;
        event_id: string;
        controller_id: string | null;
        entry: Buffer;
      }>('SELECT seq, event_id, controller_id, entry FROM audit_ledger ORDER BY seq');
      return rows.map((r) => ({
        seq: Number(r.seq),
        eventId: r.event_id,
        controllerId: r.controller_id,
        entry: r.entry,
      }));
    },
    async republishEndpoint(controllerId) {
      const previous = endpoints.get(controllerId)!;
      const next = { ...previous, revision: previous.revision + 1, updatedAt: new Date().toISOString() };
      endpoints.set(controllerId, next);
      await bus.producer().send([
        {
          topic: topic('endpoints.v1'),
          key: next.endpointId,
          value: encodeJson(endpointStateSchema, next),
        },
      ]);
    },
    terminalWebhooks,
    async awaitTerminalWebhooks(count, withinMs) {
      await eventually(withinMs, () => {
        if (terminalWebhooks() < count)
          throw new Error(`${terminalWebhooks()} of ${count} terminal webhooks acknowledged`);
      });
    },
    check: (withinMs = 60_000) => checkRunUntilClean(sources, { webhookStatuses: 'all', withinMs }),
    formatReport,
    async close() {
      await Promise.all(running.map((s) => end(s, 'SIGKILL')));
      await bus.close();
      await db.close();
      await receiver.close();
      await telnyx.close();
      await twilio.close();
      await schema.drop();
      await topics.cleanup();
    },
  };
}

/** A control API answer: its status and JSON body. */
export interface ControlReply {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the API under test
  readonly body: any;
}

/** Calls a control API as a client would (the operator's token unless another is given). */
export function controlClient(controlUrl: () => string) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    bearer = OPERATOR_TOKEN,
  ): Promise<ControlReply> => {
    const res = await fetch(`${controlUrl()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await res.json() };
  };
}

/**
 * Onboards a controller through the control API as production does (its keys, instruction and
 * endpoint reach the services as events), then warms up until one message reaches the endpoint
 * delivered: until the services have folded the controller, a request could be refused as unknown.
 */
export async function onboardController(
  p: FaultPipeline,
  api: ReturnType<typeof controlClient>,
  controllerId: string,
  eventTypes: readonly string[],
): Promise<{ token: string; endpointId: string }> {
  await eventually(60_000, async () => {
    const created = await api('POST', '/v1/controllers', {
      id: controllerId,
      name: controllerId,
      region: 'us',
    });
    expect([201, 409]).toContain(created.status);
  });
  const token = (await api('POST', `/v1/controllers/${controllerId}/tokens`)).body.token as string;
  const instruction = await api('POST', `/v1/controllers/${controllerId}/instructions`, {
    purposes: [PURPOSE],
    subprocessors: ['telnyx', 'twilio'],
    retention: { contentDays: 30, metadataDays: 365 },
    storeContentAfterDispatch: false,
  });
  expect(instruction.status).toBe(201);
  const placeholder = `whsec_${randomBytes(24).toString('base64')}`;
  const endpoint = await api('POST', `/v1/controllers/${controllerId}/endpoints`, {
    url: p.receiver.endpoint(controllerId, { secrets: [placeholder] }),
    eventTypes,
  });
  expect(endpoint.status).toBe(201);
  p.receiver.setSecrets(controllerId, [endpoint.body.secret]);
  let n = 0;
  await eventually(60_000, async () => {
    await p.produceRequests([
      { messageId: `warm-${n++}`, controllerId, to: '+14155550100', body: 'warm-up' },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(p.receiver.received.some((r) => webhookStatusChange(r.body)?.type === 'message.delivered')).toBe(
      true,
    );
  });
  return { token, endpointId: endpoint.body.id as string };
}
