import { randomBytes, randomUUID } from 'node:crypto';
import {
  type ControllerState,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  type ProcessingEvent,
  processingEventSchema,
  type StatusEvent,
  statusEventSchema,
  topicFor,
  webhookEventTypes,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import type { IncomingRecord } from '@massivesms/messaging';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  type Kms,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import type { SsrfPolicy } from '@massivesms/ssrf';
import { createLogger } from '@massivesms/telemetry';
import {
  createTestSchema,
  createTestTopics,
  eventually,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
  testLogDestination,
} from '@massivesms/testkit';
import { expect } from 'vitest';
import { startWebhooks, type Webhooks, type WebhooksOptions } from '../src/webhooks.ts';

/** A fresh Standard Webhooks secret, as the control plane makes them. */
export const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** The webhooks service on real Kafka and PostgreSQL, with a clock the test moves. */
export interface WebhooksHarness {
  readonly bus: KafkaBus;
  readonly db: Db;
  readonly keyring: Keyring;
  readonly kms: LocalKms;
  /** The KMS master key (a real process of the service needs it too). */
  readonly masterKey: string;
  readonly topics: TestTopics;
  readonly schema: TestSchema;
  readonly webhooks: Webhooks;
  /** Moves the service's clock forward and lets the worker look at the queue. */
  advance(ms: number): void;
  publishController(id: string): Promise<void>;
  /** Publishes an endpoint (revision 1 unless given) with its secrets sealed like the control plane does. */
  publishEndpoint(e: {
    endpointId: string;
    controllerId: string;
    url: string;
    secrets: string[];
    eventTypes?: string[];
    enabled?: boolean;
    revision?: number;
  }): Promise<void>;
  /** Publishes a status event (recipient sealed) and returns it. */
  publishStatus(
    controllerId: string,
    messageId: string,
    overrides?: Partial<StatusEvent>,
  ): Promise<StatusEvent>;
  processing(): ProcessingEvent[];
  stopService(): Promise<void>;
  startService(): Promise<Webhooks>;
  /** One more service instance on the same database and consumer group (several processes side by side). */
  startAnother(): Promise<Webhooks>;
  close(): Promise<void>;
}

export async function startWebhooksHarness(
  options: {
    ssrf?: SsrfPolicy;
    worker?: WebhooksOptions['worker'];
    /** Start the service in this process (default); false when a test runs the real process. */
    inProcess?: boolean;
    /** Stands between the service and the KMS (a key service that fails). */
    kms?: (kms: Kms) => Kms;
    intake?: WebhooksOptions['intake'];
  } = {},
): Promise<WebhooksHarness> {
  const topics = createTestTopics();
  await topics.provisionCell('us', 2);
  const schema = await createTestSchema('webhooks');
  const db = createPgDb({ url: schema.url, schema: schema.schema });
  const bus = new KafkaBus({ brokers: topics.brokers, clientId: 'webhooks-test', log: testKafkaLog });
  const masterKey = generateMasterKey();
  const kms = new LocalKms(masterKey);
  const keyring = new Keyring({ kms, store: new InMemoryControllerKeyStore() });
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, topics.namespace);
  const audit: IncomingRecord[] = [];
  await bus.readFromStart({
    topics: [topic('audit.processing.v1')],
    onRecords: (r) => void audit.push(...r),
  });
  let offset = 0;
  const start = () =>
    startWebhooks({
      cell: 'us',
      bus,
      db,
      kms: options.kms ? options.kms(kms) : kms,
      ...(options.intake ? { intake: options.intake } : {}),
      log: createLogger({
        service: 'webhooks',
        level: process.env.WEBHOOKS_TEST_LOG === '1' ? 'warn' : 'error',
        destination: testLogDestination,
      }),
      namespace: topics.namespace,
      ssrf: options.ssrf ?? { allowList: ['127.0.0.1'] },
      now: () => new Date(Date.now() + offset),
      worker: { pollMs: 100, attemptTimeoutMs: 3_000, perEndpointConcurrency: 2, ...options.worker },
    });
  const others: Webhooks[] = [];
  const idle: Webhooks = {
    store: undefined as never,
    commands: undefined as never,
    seenRevision: () => undefined,
    wake() {},
    ready: () => false,
    stop: async () => {},
  };
  // Waits until every running instance has seen the published revision (a status consumed earlier
  // would find no subscriber): the race is the test's, not the service's. Stopped ones are skipped.
  const seen = async (kind: 'endpoint' | 'controller', id: string, revision: number) => {
    const instances = [webhooks, ...others].filter((w) => w.ready());
    await eventually(15_000, () => {
      for (const w of instances) expect(w.seenRevision(kind, id)).toBeGreaterThanOrEqual(revision);
    });
  };
  let webhooks = options.inProcess === false ? idle : await start();
  const send = (name: Parameters<typeof topicFor>[1], key: string, value: Buffer | string) =>
    bus.producer().send([{ topic: topic(name), key, value }]);

  return {
    bus,
    db,
    keyring,
    kms,
    masterKey,
    topics,
    schema,
    get webhooks() {
      return webhooks;
    },
    advance(ms) {
      offset += ms;
      webhooks.wake();
    },
    async publishController(id) {
      const keys = await keyring.create(toControllerId(id));
      const state: ControllerState = {
        controllerId: id,
        name: id,
        region: 'us',
        revision: 1,
        keys: { dataKey: keys.dataKey, pseudonymKey: keys.pseudonymKey },
        instruction: null,
        updatedAt: new Date().toISOString(),
      };
      await send('controllers.v1', id, encodeJson(controllerStateSchema, state));
      await seen('controller', id, state.revision);
    },
    async publishEndpoint(e) {
      const keys = await keyring.get(toControllerId(e.controllerId));
      const state: EndpointState = {
        endpointId: e.endpointId,
        controllerId: e.controllerId,
        url: e.url,
        eventTypes: (e.eventTypes ?? webhookEventTypes) as EndpointState['eventTypes'],
        enabled: e.enabled ?? true,
        revision: e.revision ?? 1,
        secrets: e.secrets.map((secret, i) => ({
          secretId: `sec_${i + 1}`,
          secret: encryptField(keys.dataKey, secret, {
            controllerId: toControllerId(e.controllerId),
            recordId: e.endpointId,
            field: `secret:sec_${i + 1}`,
          }),
          createdAt: new Date().toISOString(),
          expiresAt: i === 0 ? null : new Date(Date.now() + 3_600_000).toISOString(),
        })),
        updatedAt: new Date().toISOString(),
      };
      await send('endpoints.v1', e.endpointId, encodeJson(endpointStateSchema, state));
      await seen('endpoint', e.endpointId, state.revision);
    },
    async publishStatus(controllerId, messageId, overrides = {}) {
      const keys = await keyring.get(toControllerId(controllerId));
      const event: StatusEvent = {
        eventId: randomUUID(),
        messageId,
        controllerId,
        campaignId: 'c1',
        region: 'us',
        status: 'delivered',
        statusSeq: 4,
        carrier: 'telnyx',
        segments: 1,
        recipient: encryptField(keys.dataKey, '+14155552671', {
          controllerId: toControllerId(controllerId),
          recordId: messageId,
          field: 'to',
        }),
        occurredAt: new Date().toISOString(),
        ...overrides,
      };
      await send('sms.status.v1', `${controllerId}:${messageId}`, encodeJson(statusEventSchema, event));
      return event;
    },
    processing: () => audit.map((r) => processingEventSchema.parse(JSON.parse(r.value!.toString()))),
    stopService: () => webhooks.stop(),
    async startService() {
      webhooks = await start();
      return webhooks;
    },
    async startAnother() {
      const other = await start();
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.stop().catch(() => undefined);
      await webhooks.stop().catch(() => undefined);
      await bus.close();
      await db.close();
      await schema.drop();
      await topics.cleanup();
    },
  };
}
