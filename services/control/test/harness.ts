import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LedgerExports } from '@massivesms/audit/exports';
import { ledgerInternalRoutes } from '@massivesms/audit/http/internal';
import { auditMigrations } from '@massivesms/audit/ledger';
import type { CheckpointSigner } from '@massivesms/audit/tree';
import {
  type Cell,
  controllerStateSchema,
  decodeJsonOrThrow,
  endpointStateSchema,
  topicFor,
} from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import { startStateView } from '@massivesms/messaging';
import { generateMasterKey, type Kms, LocalKms, type SubprocessorRegistry } from '@massivesms/privacy';
import type { Resolver } from '@massivesms/ssrf';
import { createLogger } from '@massivesms/telemetry';
import {
  createTestSchema,
  createTestTopics,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
  testLogDestination,
} from '@massivesms/testkit';
import { PgCommandStore } from '@massivesms/webhooks/command-store';
import { startWebhookCommands } from '@massivesms/webhooks/commands';
import { deliveryInternalRoutes } from '@massivesms/webhooks/http/internal';
import { WebhookRecovery } from '@massivesms/webhooks/recovery';
import { webhooksMigrations } from '@massivesms/webhooks/webhooks';
import Fastify, { type FastifyInstance } from 'fastify';
import { PgDeliveryStore } from '../../webhooks/src/adapters/pg-delivery-store.ts';
import { ssrfUrlGuard } from '../src/adapters/url-guard.ts';
import { type Control, createControl } from '../src/control.ts';

export const OPERATOR_TOKEN = `op-${'x'.repeat(40)}`;

/** Names the fake DNS knows: one public, one that points inside the network. */
export const fakeDns: Resolver = async (hostname) => {
  const answers: Record<string, string> = {
    'hooks.example.test': '93.184.216.34',
    'internal.example.test': '10.1.2.3',
    'rebind.example.test': '93.184.216.34',
  };
  if (hostname === 'rebind.example.test') {
    return [
      { address: '93.184.216.34', family: 4 },
      { address: '10.9.9.9', family: 4 },
    ];
  }
  const address = answers[hostname];
  if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return [{ address, family: 4 }];
};

/** A control service started in-process on a free port, on real PostgreSQL and Kafka. */
export interface ControlHarness {
  readonly control: Control;
  readonly url: string;
  readonly topics: TestTopics;
  readonly schema: TestSchema;
  readonly db: Db;
  readonly bus: KafkaBus;
  readonly masterKey: string;
  readonly cell: Cell;
  /** Calls the API as a client would. */
  call(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown },
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field in the tests
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** Starts the control service for one test file. */
export async function startControl(
  options: {
    tls?: boolean;
    clock?: () => Date;
    cell?: Cell;
    subprocessorRegistry?: SubprocessorRegistry;
    /**
     * Runs the webhooks service's part control talks to over the test schema: its internal HTTP
     * routes and its command consumer, not its delivery worker (tests look at the rows it leaves).
     * Absent: recovery answers 503.
     */
    webhooks?: boolean;
    /** A webhooks service address of the test's own (one that does not answer, say). */
    webhooksUrl?: string;
    /** Runs the audit service's internal HTTP routes over the test schema, signing with this key. */
    auditSigner?: (kms: Kms) => Promise<CheckpointSigner>;
  } = {},
): Promise<ControlHarness> {
  const cell = options.cell ?? 'us';
  const topics = createTestTopics();
  await topics.provisionCell(cell, 2);
  const schema = await createTestSchema('control');
  const db = createPgDb({ url: schema.url, schema: schema.schema });
  const bus = new KafkaBus({ brokers: topics.brokers, clientId: 'control-test', log: testKafkaLog });
  const masterKey = generateMasterKey();
  const tls = options.tls ? selfSignedCertificate() : undefined;
  const kms = new LocalKms(masterKey);
  const log = createLogger({
    service: 'control',
    level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'error',
    destination: testLogDestination,
  });
  const servers: FastifyInstance[] = [];
  const serve = async (register: (app: FastifyInstance) => Promise<void>) => {
    const app = Fastify({ logger: false });
    await register(app);
    servers.push(app);
    return app.listen({ port: 0, host: '127.0.0.1' });
  };
  let commands: Awaited<ReturnType<typeof startWebhookCommands>> | undefined;
  let webhooksUrl = options.webhooksUrl;
  if (options.webhooks) {
    await migrate(db, webhooksMigrations);
    const commandStore = new PgCommandStore(db);
    webhooksUrl = await serve(async (app) => {
      await app.register(deliveryInternalRoutes, {
        deliveries: new WebhookRecovery(db),
        commands: commandStore,
      });
    });
    commands = await startWebhookCommands({
      cell,
      bus,
      db,
      log,
      namespace: topics.namespace,
      deliveries: new PgDeliveryStore(db),
      commands: commandStore,
    });
  }
  let auditUrl: string | undefined;
  if (options.auditSigner) {
    await migrate(db, auditMigrations);
    const signer = await options.auditSigner(kms);
    auditUrl = await serve(async (app) => {
      await app.register(ledgerInternalRoutes, { exports: new LedgerExports(db, signer, { cell }) });
    });
  }
  const control = await createControl({
    cell,
    db,
    bus,
    kms,
    log,
    operatorToken: OPERATOR_TOKEN,
    topicNamespace: topics.namespace,
    guardUrl: ssrfUrlGuard(['127.0.0.1'], fakeDns),
    tls,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.subprocessorRegistry ? { subprocessorRegistry: options.subprocessorRegistry } : {}),
    webhooksUrl,
    auditUrl,
    // Well inside a test's time; production waits up to 30 s for an export.
    internalTimeouts: { connectMs: 2_000, responseMs: 3_000 },
  });
  const address = await control.listen(0, '127.0.0.1');
  return {
    control,
    url: address,
    topics,
    schema,
    db,
    bus,
    masterKey,
    cell,
    async call(method, path, { token = OPERATOR_TOKEN, body } = {}) {
      const response = await fetch(`${address}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text ? JSON.parse(text) : undefined,
        headers: response.headers,
      };
    },
    async close() {
      await control.close();
      await commands?.stop();
      for (const server of servers) await server.close();
      await bus.close();
      await db.close();
      await schema.drop();
      await topics.cleanup();
    },
  };
}

/** What a second service sees: views of the controllers and endpoints topics. */
export async function startViews(h: ControlHarness) {
  const bus = new KafkaBus({ brokers: h.topics.brokers, clientId: 'other-service', log: testKafkaLog });
  const decode =
    <T>(schema: Parameters<typeof decodeJsonOrThrow>[0]) =>
    (value: Buffer) =>
      decodeJsonOrThrow(schema, value) as T;
  const controllers = await startStateView({
    bus,
    topic: topicFor(h.cell, 'controllers.v1', h.topics.namespace),
    decode: decode<import('@massivesms/contracts').ControllerState>(controllerStateSchema),
    revision: (c) => c.revision,
  });
  const endpoints = await startStateView({
    bus,
    topic: topicFor(h.cell, 'endpoints.v1', h.topics.namespace),
    decode: decode<import('@massivesms/contracts').EndpointState>(endpointStateSchema),
    revision: (e) => e.revision,
  });
  await Promise.all([controllers.ready, endpoints.ready]);
  return {
    controllers,
    endpoints,
    async stop() {
      await controllers.stop();
      await endpoints.stop();
      await bus.close();
    },
  };
}

/** A throwaway self-signed certificate for 127.0.0.1 (openssl is part of the base system). */
function selfSignedCertificate(): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'control-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}
