import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Cell,
  controllerStateSchema,
  decodeJsonOrThrow,
  endpointStateSchema,
  topicFor,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
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
import { ssrfUrlGuard } from '../src/adapters/url-guard.ts';
import type { AuditLedgerPort, WebhookRecoveryPort } from '../src/application/ports.ts';
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
    /** Builds the webhook recovery port over the test schema (absent: recovery answers 503). */
    webhookRecovery?: (db: Db) => WebhookRecoveryPort;
    /** Builds the audit ledger port over the test schema (absent: audit exports answer 503). */
    auditLedger?: (db: Db, kms: Kms) => Promise<AuditLedgerPort>;
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
  const control = await createControl({
    cell,
    db,
    bus,
    kms,
    log: createLogger({
      service: 'control',
      level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'error',
      destination: testLogDestination,
    }),
    operatorToken: OPERATOR_TOKEN,
    topicNamespace: topics.namespace,
    guardUrl: ssrfUrlGuard(['127.0.0.1'], fakeDns),
    tls,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.subprocessorRegistry ? { subprocessorRegistry: options.subprocessorRegistry } : {}),
    webhookRecovery: options.webhookRecovery?.(db),
    auditLedger: await options.auditLedger?.(db, kms),
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
