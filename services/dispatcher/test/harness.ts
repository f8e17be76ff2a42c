import type { KeyObject } from 'node:crypto';
import {
  type Cell,
  controllerStateSchema,
  encodeJson,
  type ProcessingEvent,
  processingEventSchema,
  type StatusEvent,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { createPgDb, type Db } from '@massivesms/db';
import { KafkaBus } from '@massivesms/kafka';
import type { IncomingRecord, MessageBus, OutgoingRecord } from '@massivesms/messaging';
import { generateMasterKey, InMemoryControllerKeyStore, Keyring, LocalKms } from '@massivesms/privacy';
import { createLogger } from '@massivesms/telemetry';
import {
  createTestSchema,
  createTestTopics,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
  testLogDestination,
} from '@massivesms/testkit';
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { telnyxCarrier } from '../src/adapters/telnyx-carrier.ts';
import { twilioCarrier } from '../src/adapters/twilio-carrier.ts';
import { type Dispatcher, type DispatcherOptions, startDispatcher } from '../src/dispatcher.ts';
import { controllerFixture, dispatchFixture } from './fixtures.ts';

const SID = `AC${'2'.repeat(32)}`;

/** One cell's dispatcher on real Kafka and PostgreSQL, with both carrier simulators of that cell. */
export interface DispatcherHarness {
  readonly cell: Cell;
  readonly bus: KafkaBus;
  readonly db: Db;
  readonly keyring: Keyring;
  readonly telnyx: TelnyxSimulator;
  readonly twilio: TwilioSimulator;
  readonly dispatcher: Dispatcher;
  readonly namespace: string;
  topic(name: Parameters<typeof topicFor>[1]): string;
  /** Publishes a controller homed in `region` (default: the cell's) whose instruction lists `subprocessors`. */
  publishController(
    id: string,
    subprocessors: string[],
    region?: Cell,
    extra?: { terminatedAt?: string },
  ): Promise<void>;
  /** A dispatch record as the router writes it. */
  dispatchRecord(
    controllerId: string,
    messageId: string,
    to?: string,
    region?: Cell,
    extra?: DispatchExtra,
  ): Promise<OutgoingRecord>;
  dispatch(
    controllerId: string,
    messageId: string,
    to?: string,
    region?: Cell,
    extra?: DispatchExtra,
  ): Promise<void>;
  /** Status events of one message, in topic order. */
  statusOf(messageId: string): StatusEvent[];
  /** Processing events of one message's send attempts. */
  sendsOf(messageId: string): ProcessingEvent[];
  /** Every processing event of one message. */
  processingOf(messageId: string): ProcessingEvent[];
  /** Every processing event so far (republished copies included). */
  processingEvents(): ProcessingEvent[];
  close(): Promise<void>;
}

/** Optional fields of a dispatch record (validity, quiet-hours hold, a body that never decrypts). */
export type DispatchExtra = Pick<
  Parameters<typeof dispatchFixture>[1],
  'validUntil' | 'sendAfter' | 'undecryptable' | 'acceptedAt'
>;

export interface HarnessOptions {
  /** What the dispatcher gets instead of the bus (e.g. one whose producer fails for a while). */
  readonly wrapBus?: (bus: KafkaBus) => MessageBus;
  readonly cell?: Cell;
  readonly partitions?: number;
  /** Telnyx webhook key pair (receipt tests); the simulator makes one otherwise. */
  readonly telnyxKeys?: { publicKey: KeyObject; privateKey: KeyObject };
  /** Run the receipt ingress on a free port (receipts reach the dispatcher). */
  readonly ingress?: boolean;
  readonly carrierTimeoutMs?: number;
  readonly dispatcher?: Partial<
    Pick<DispatcherOptions, 'breaker' | 'rateLimits' | 'subprocessors' | 'now' | 'reconcile' | 'registry'>
  >;
}

/** Starts topics, schema, simulators and a dispatcher; `close()` removes all of it. */
export async function startDispatcherHarness(options: HarnessOptions = {}): Promise<DispatcherHarness> {
  const cell = options.cell ?? 'us';
  const topics: TestTopics = createTestTopics();
  await topics.provisionCell(cell, options.partitions ?? 1);
  const schema: TestSchema = await createTestSchema(`dispatcher_${cell}`);
  const db = createPgDb({ url: schema.url, schema: schema.schema });
  const bus = new KafkaBus({
    brokers: topics.brokers,
    clientId: `dispatcher-test-${cell}`,
    log: testKafkaLog,
  });
  const kms = new LocalKms(generateMasterKey());
  const keyring = new Keyring({ kms, store: new InMemoryControllerKeyStore() });
  const telnyx = await startTelnyxSimulator({
    apiKey: 'KEY_T',
    ...(options.telnyxKeys ? { publicKeyPair: options.telnyxKeys } : {}),
  });
  const twilio = await startTwilioSimulator({ accountSid: SID, authToken: 'tok' });
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(cell, name, topics.namespace);
  const statuses: IncomingRecord[] = [];
  const audit: IncomingRecord[] = [];
  await bus.readFromStart({ topics: [topic('sms.status.v1')], onRecords: (r) => void statuses.push(...r) });
  await bus.readFromStart({
    topics: [topic('audit.processing.v1')],
    onRecords: (r) => void audit.push(...r),
  });
  const timeoutMs = options.carrierTimeoutMs ?? 1_000;
  const dispatcher = await startDispatcher({
    cell,
    bus: options.wrapBus ? options.wrapBus(bus) : bus,
    db,
    kms,
    log: createLogger({ service: 'dispatcher', level: 'error', destination: testLogDestination }),
    namespace: topics.namespace,
    ...(options.ingress
      ? {
          ingress: { telnyxPublicKey: telnyx.publicKey, twilioAuthToken: 'tok', port: 0, host: '127.0.0.1' },
        }
      : { publicBaseUrl: 'http://127.0.0.1:9' }),
    carriers: {
      telnyx: telnyxCarrier({ apiKey: 'KEY_T', baseUrl: telnyx.baseUrl, timeoutMs }),
      twilio: twilioCarrier({ accountSid: SID, authToken: 'tok', baseUrl: twilio.baseUrl, timeoutMs }),
    },
    ...options.dispatcher,
  });

  const dispatchRecord = (
    controllerId: string,
    messageId: string,
    to = '+14155552671',
    region?: Cell,
    extra: DispatchExtra = {},
  ) =>
    dispatchFixture(keyring, {
      topic: topic('sms.dispatch.v1'),
      controllerId,
      messageId,
      to,
      region: region ?? cell,
      ...extra,
    });
  return {
    cell,
    bus,
    db,
    keyring,
    telnyx,
    twilio,
    dispatcher,
    namespace: topics.namespace,
    topic,
    async publishController(id, subprocessors, region = cell, extra = {}) {
      const state = { ...(await controllerFixture(keyring, id, subprocessors, region)), ...extra };
      await bus
        .producer()
        .send([{ topic: topic('controllers.v1'), key: id, value: encodeJson(controllerStateSchema, state) }]);
    },
    dispatchRecord,
    async dispatch(controllerId, messageId, to, region, extra) {
      await bus.producer().send([await dispatchRecord(controllerId, messageId, to, region, extra)]);
    },
    statusOf: (messageId) =>
      statuses
        .map((r) => statusEventSchema.parse(JSON.parse(r.value!.toString())))
        .filter((s) => s.messageId === messageId),
    processingEvents: () => audit.map((r) => processingEventSchema.parse(JSON.parse(r.value!.toString()))),
    processingOf: (messageId) =>
      audit
        .map((r) => processingEventSchema.parse(JSON.parse(r.value!.toString())))
        .filter((e) => e.messageId === messageId),
    sendsOf: (messageId) =>
      audit
        .map((r) => processingEventSchema.parse(JSON.parse(r.value!.toString())))
        .filter((e) => e.messageId === messageId && e.operation === 'send'),
    async close() {
      await dispatcher.stop();
      await bus.close();
      await db.close();
      await schema.drop();
      await topics.cleanup();
      await telnyx.close();
      await twilio.close();
    },
  };
}
