import {
  type Cell,
  type ControllerState,
  controllerStateSchema,
  encodeJson,
  instructionRef,
  type SuppressionEvent,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import type { IncomingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  type Kms,
  LocalKms,
  pseudonymise,
  toControllerId,
  toE164,
} from '@massivesms/privacy';
import { createLogger } from '@massivesms/telemetry';
import {
  createTestSchema,
  createTestTopics,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
  testLogDestination,
} from '@massivesms/testkit';

export { eventually } from '@massivesms/testkit';

import { Registry } from 'prom-client';
import type { BatchOutcome } from '../src/application/route-batch.ts';
import { type Router, type RouterOptions, startRouter } from '../src/router.ts';

/** A request as the campaign API would write it. */
export function request(overrides: Record<string, unknown> = {}) {
  return {
    messageId: `m-${Math.random().toString(36).slice(2, 10)}`,
    controllerId: 'acme',
    campaignId: 'winter',
    purpose: 'marketing.communications.sms',
    to: '+447400123456',
    from: 'ACME',
    body: 'Winter sale: 20% off today. Reply STOP to opt out.',
    ...overrides,
  };
}

export const instructionDoc = {
  purposes: ['essential.service.notifications.sms', 'marketing.communications.sms'],
  subprocessors: ['telnyx', 'twilio'],
  retention: { contentDays: 30, metadataDays: 365 },
  storeContentAfterDispatch: false,
};

/** The router on real Kafka and PostgreSQL, with controllers published the way the control plane does. */
export interface RouterHarness {
  readonly cell: Cell;
  readonly topics: TestTopics;
  readonly schema: TestSchema;
  readonly db: Db;
  readonly bus: KafkaBus;
  readonly kms: LocalKms;
  readonly outcomes: BatchOutcome[];
  topic(name: Parameters<typeof topicFor>[1]): string;
  publishController(state: {
    id: string;
    region?: Cell;
    instruction?: Record<string, unknown> | null;
    revision?: number;
    terminatedAt?: string;
  }): Promise<void>;
  keys(controllerId: string): Promise<ControllerKeys>;
  pseudonym(controllerId: string, e164: string): Promise<string>;
  suppress(event: Omit<SuppressionEvent, 'occurredAt' | 'source'> & { occurredAt?: string }): Promise<void>;
  send(values: readonly (object | Buffer | string)[], headers?: Record<string, string>): Promise<void>;
  /** Every record on a topic the router reads or writes, so far. */
  read(name: Parameters<typeof topicFor>[1]): IncomingRecord[];
  startRouter(
    now?: () => Date,
    options?: { kms?: (kms: Kms) => Kms; routing?: RouterOptions['routing'] },
  ): Promise<Router>;
  router: Router | undefined;
  close(): Promise<void>;
}

export async function startHarness(cell: Cell = 'us'): Promise<RouterHarness> {
  const topics = createTestTopics();
  await topics.provisionCell(cell, 3);
  const schema = await createTestSchema('router');
  const db = createPgDb({ url: schema.url, schema: schema.schema });
  const bus = new KafkaBus({ brokers: topics.brokers, clientId: 'router-test', log: testKafkaLog });
  const kms = new LocalKms(generateMasterKey());
  const keyStore = new InMemoryControllerKeyStore();
  const keyring = new Keyring({ kms, store: keyStore });
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(cell, name, topics.namespace);
  const outputs = new Map<string, IncomingRecord[]>();
  const readers = await Promise.all(
    (
      [
        'sms.requested.v1',
        'sms.dispatch.v1',
        'sms.status.v1',
        'sms.rejected.v1',
        'audit.processing.v1',
        'deadletter.v1',
      ] as const
    ).map((name) => {
      outputs.set(name, []);
      return bus.readFromStart({
        topics: [topic(name)],
        onRecords: (records) => void outputs.get(name)!.push(...records),
      });
    }),
  );
  const outcomes: BatchOutcome[] = [];
  const h: RouterHarness = {
    cell,
    topics,
    schema,
    db,
    bus,
    kms,
    outcomes,
    topic,
    router: undefined,
    async publishController({ id, region = cell, instruction = instructionDoc, revision = 1, terminatedAt }) {
      const cid = toControllerId(id);
      const stored = await keyStore.get(cid);
      const wrapped = stored?.status === 'active' ? stored.keys : await keyring.create(cid);
      const sha = 'a'.repeat(63) + String(revision % 10);
      const state: ControllerState = {
        controllerId: id,
        name: id,
        region,
        revision,
        keys: { dataKey: wrapped.dataKey, pseudonymKey: wrapped.pseudonymKey },
        instruction: instruction
          ? {
              id: `${id}-sms`,
              version: revision,
              sha256: sha,
              ref: instructionRef(`${id}-sms`, revision, sha),
              publishedAt: new Date().toISOString(),
              document: instruction,
            }
          : null,
        ...(terminatedAt ? { terminatedAt } : {}),
        updatedAt: new Date().toISOString(),
      };
      await bus
        .producer()
        .send([{ topic: topic('controllers.v1'), key: id, value: encodeJson(controllerStateSchema, state) }]);
    },
    keys: (controllerId) => keyring.get(toControllerId(controllerId)),
    async pseudonym(controllerId, e164) {
      return pseudonymise((await h.keys(controllerId)).pseudonymKey, toE164(e164));
    },
    async suppress(event) {
      const full: SuppressionEvent = {
        source: 'telnyx.inbound',
        occurredAt: new Date().toISOString(),
        ...event,
      };
      await bus.producer().send([
        {
          topic: topic('suppressions.v1'),
          key: suppressionKey(full),
          value: encodeJson(suppressionEventSchema, full),
        },
      ]);
    },
    async send(values, headers) {
      await bus.producer().send(
        values.map((v) => ({
          topic: topic('sms.requested.v1'),
          key: null,
          value: Buffer.isBuffer(v) || typeof v === 'string' ? v : JSON.stringify(v),
          ...(headers ? { headers } : {}),
        })),
      );
    },
    read: (name) => [...(outputs.get(name) ?? [])],
    async startRouter(now, extra = {}) {
      h.router = await startRouter({
        cell,
        bus,
        db,
        kms: extra.kms ? extra.kms(kms) : kms,
        ...(extra.routing ? { routing: extra.routing } : {}),
        log: createLogger({
          service: 'router',
          level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'error',
          destination: testLogDestination,
        }),
        registry: new Registry(),
        namespace: topics.namespace,
        ...(now ? { now } : {}),
        onBatch: (o) => outcomes.push(o),
      });
      return h.router;
    },
    async close() {
      await h.router?.stop();
      await Promise.all(readers.map((r) => r.stop()));
      await bus.close();
      await db.close();
      await schema.drop();
      await topics.cleanup();
    },
  };
  return h;
}

/** Parses the JSON value of a record. */
export function json<T = Record<string, unknown>>(record: IncomingRecord): T {
  return JSON.parse(record.value!.toString('utf8')) as T;
}
