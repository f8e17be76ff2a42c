import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  type ControllerState,
  cellTopics,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  instructionRef,
  topicFor,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
import { type Dispatcher, RateLimits, startDispatcher } from '@massivesms/dispatcher/dispatcher';
import { telnyxCarrier } from '@massivesms/dispatcher/telnyx';
import { twilioCarrier } from '@massivesms/dispatcher/twilio';
import { type Infra, infraUp, loadInfraSettings } from '@massivesms/infra';
import { deleteTopics, ensureTopics } from '@massivesms/kafka';
import type { MessageBus } from '@massivesms/messaging';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import { startTwilioSimulator, type TwilioSimulator } from '@massivesms/testkit/carriers';
import pg from 'pg';

/** A bench's own topics (the us cell under a fresh namespace) and PostgreSQL schema on the local infra. */
export interface BenchWorkspace {
  readonly infra: Infra;
  readonly brokers: string[];
  readonly namespace: string;
  /** The bench's PostgreSQL schema. */
  readonly schema: string;
  readonly topics: ReturnType<typeof cellTopics>;
  readonly topic: (name: Parameters<typeof topicFor>[1]) => string;
  /** A pool on the bench's schema (`applicationName` tells its backends apart in pg_stat_activity). */
  db(max: number, applicationName?: string): Db;
  /** Drops the schema and the topics; close every pool first. */
  close(): Promise<void>;
}

/**
 * Opens a workspace: fresh topics and schema, in database `massivesms_bench`, or with `ownDatabase`
 * in a database of its own (dropped by close()), so the server's per-database counters
 * (pg_stat_database) count this bench alone even when others use the server; on the local broker
 * unless `brokers` names another.
 */
export async function openBenchWorkspace(
  prefix: string,
  options: { ownDatabase?: boolean; brokers?: readonly string[] } = {},
): Promise<BenchWorkspace> {
  const namespace = `${prefix}${Date.now().toString(36)}`;
  const database = options.ownDatabase ? `massivesms_${namespace}` : 'massivesms_bench';
  const infra = await infraUp(loadInfraSettings(), database);
  const brokers = options.brokers ? [...options.brokers] : infra.kafkaBrokers.split(',');
  const topics = cellTopics('us', { namespace });
  await ensureTopics(brokers, topics);
  const schema = `bench_${namespace}`;
  const admin = new pg.Client({ connectionString: infra.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  // Not when DATABASE_URL named the database: then it is someone else's.
  const dropDatabase = new URL(infra.databaseUrl).pathname === `/${database}` && options.ownDatabase === true;
  return {
    infra,
    brokers,
    namespace,
    schema,
    topics,
    topic: (name) => topicFor('us', name, namespace),
    db: (max, applicationName) =>
      createPgDb({ url: infra.databaseUrl, schema, max, ...(applicationName ? { applicationName } : {}) }),
    async close() {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
      if (dropDatabase) {
        const server = new URL(infra.databaseUrl);
        server.pathname = '/postgres';
        const client = new pg.Client({ connectionString: server.href });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await client.end();
      }
      await deleteTopics(
        brokers,
        topics.map((t) => t.fullName),
      );
    },
  };
}

// The keyring behind each KMS publishBenchController returned, so an endpoint can be sealed for it.
const keyrings = new WeakMap<LocalKms, Keyring>();

/**
 * Publishes controller `acme` (Telnyx then Twilio, notifications only) on `controllersTopic` the way
 * the control plane does, with keys wrapped by a local KMS on `masterKey` (default a fresh one), which
 * it returns; services in other processes get the same master key (KMS_MASTER_KEY).
 */
export async function publishBenchController(
  bus: MessageBus,
  controllersTopic: string,
  masterKey = generateMasterKey(),
): Promise<LocalKms> {
  const kms = new LocalKms(masterKey);
  const keyring = new Keyring({ kms, store: new InMemoryControllerKeyStore() });
  const keys = await keyring.create(toControllerId('acme'));
  keyrings.set(kms, keyring);
  const sha = 'b'.repeat(64);
  const controller: ControllerState = {
    controllerId: 'acme',
    name: 'Acme',
    region: 'us',
    revision: 1,
    keys: { dataKey: keys.dataKey, pseudonymKey: keys.pseudonymKey },
    instruction: {
      id: 'acme-sms',
      version: 1,
      sha256: sha,
      ref: instructionRef('acme-sms', 1, sha),
      publishedAt: new Date().toISOString(),
      document: { purposes: ['essential.service.notifications.sms'], subprocessors: ['telnyx', 'twilio'] },
    },
    updatedAt: new Date().toISOString(),
  };
  await bus
    .producer()
    .send([{ topic: controllersTopic, key: 'acme', value: encodeJson(controllerStateSchema, controller) }]);
  return kms;
}

/**
 * Publishes a webhook endpoint of the bench controller (`kms` is what publishBenchController
 * returned) on `endpointsTopic` the way the control plane does: revision 1, its one `whsec_` secret
 * sealed with the controller's data key (field `secret:<secretId>`, record = the endpoint id),
 * subscribed to `message.delivered` only unless `eventTypes` says otherwise.
 */
export async function publishBenchEndpoint(
  bus: MessageBus,
  endpointsTopic: string,
  kms: LocalKms,
  endpoint: {
    endpointId: string;
    url: string;
    secret: string;
    eventTypes?: EndpointState['eventTypes'];
  },
): Promise<void> {
  const keyring = keyrings.get(kms);
  if (!keyring) throw new Error('publishBenchEndpoint: publish the bench controller with this KMS first');
  const controllerId = toControllerId('acme');
  const keys = await keyring.get(controllerId);
  const state: EndpointState = {
    endpointId: endpoint.endpointId,
    controllerId: 'acme',
    url: endpoint.url,
    eventTypes: endpoint.eventTypes ?? ['message.delivered'],
    enabled: true,
    revision: 1,
    secrets: [
      {
        secretId: 'sec_1',
        secret: encryptField(keys.dataKey, endpoint.secret, {
          controllerId,
          recordId: endpoint.endpointId,
          field: 'secret:sec_1',
        }),
        createdAt: new Date().toISOString(),
        expiresAt: null,
      },
    ],
    updatedAt: new Date().toISOString(),
  };
  await bus
    .producer()
    .send([
      { topic: endpointsTopic, key: endpoint.endpointId, value: encodeJson(endpointStateSchema, state) },
    ]);
}

/** Runs `massivesms simulate <args>` in its own process (a remote party) and reads its first JSON line. */
export async function startSimulatorProcess<T>(args: string[]): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(
    process.execPath,
    [new URL('../bin/massivesms.ts', import.meta.url).pathname, 'simulate', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [firstLine] = (await once(child.stdout!, 'data')) as [Buffer];
  child.stdout!.resume(); // nothing more is expected, but a full pipe must never block it
  process.once('exit', () => child.kill('SIGTERM')); // never outlive a bench that crashed
  return { child, info: JSON.parse(firstLine.toString().split('\n')[0]!) as T };
}

/** Stops a simulator process started by startSimulatorProcess. */
export async function stopSimulatorProcess(sim: { child: ChildProcess }): Promise<void> {
  sim.child.kill('SIGTERM');
  await once(sim.child, 'exit');
}

const BENCH_TWILIO_SID = `AC${'5'.repeat(32)}`;

/**
 * The dispatcher as both benches run it: Telnyx (a simulator process) first, an in-process Twilio
 * simulator for failover, the receipt ingress on a free port, carrier rate limits lifted, no sweeper.
 */
export async function startBenchDispatcher(options: {
  bus: MessageBus;
  db: Db;
  ingressDb?: Db;
  kms: LocalKms;
  log: Logger;
  namespace: string;
  telnyx: { baseUrl: string; publicKey: string };
}): Promise<{ dispatcher: Dispatcher; twilio: TwilioSimulator }> {
  const twilio = await startTwilioSimulator({ accountSid: BENCH_TWILIO_SID, authToken: 'tok-bench' });
  const { telnyx, ...rest } = options;
  const dispatcher = await startDispatcher({
    ...rest,
    cell: 'us',
    ingress: { telnyxPublicKey: telnyx.publicKey, twilioAuthToken: 'tok-bench', port: 0, host: '127.0.0.1' },
    carriers: {
      telnyx: telnyxCarrier({ apiKey: 'KEY_BENCH', baseUrl: telnyx.baseUrl }),
      twilio: twilioCarrier({
        accountSid: BENCH_TWILIO_SID,
        authToken: 'tok-bench',
        baseUrl: twilio.baseUrl,
      }),
    },
    rateLimits: new RateLimits({
      accountPerSecond: { telnyx: 1_000_000, twilio: 1_000_000 },
      senderPerSecond: { e164: 1_000_000, short_code: 1_000_000, alphanumeric: 1_000_000 },
    }),
    reconcile: false,
  });
  return { dispatcher, twilio };
}
