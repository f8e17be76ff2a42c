import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  type ControllerState,
  controllerStateSchema,
  dispatchRecordSchema,
  encodeJson,
  instructionRef,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import { KafkaBus } from '@massivesms/kafka';
import {
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  pseudonymise,
  toControllerId,
  toE164,
} from '@massivesms/privacy';
import {
  createTestSchema,
  createTestTopics,
  eventually,
  freePort,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
} from '@massivesms/testkit';
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const SID = `AC${'4'.repeat(32)}`;
const MESSAGES = 2_000;

describe('crash: SIGKILL the dispatcher mid-run, restart it', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let telnyx: TelnyxSimulator;
  let twilio: TwilioSimulator;
  let bus: KafkaBus;
  const masterKey = generateMasterKey();
  /** Kept across restarts; asked of the OS so it is free. */
  let port: number;
  const statuses = new Map<string, string>();

  const start = (): ChildProcess =>
    spawn(process.execPath, [cli, 'dispatcher'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        KMS_MASTER_KEY: masterKey,
        TOPIC_NAMESPACE: topics.namespace,
        TELNYX_API_KEY: 'KEY_CRASH',
        TELNYX_PUBLIC_KEY: telnyx.publicKey,
        TELNYX_BASE_URL: telnyx.baseUrl,
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: 'token-crash',
        TWILIO_BASE_URL: twilio.baseUrl,
        DISPATCHER_SENDING_TIMEOUT_MS: '3000',
        CARRIER_TIMEOUT_MS: '1000',
        DISPATCHER_MAX_RETRY_AFTER_MS: '500',
      },
      stdio: 'ignore',
    });

  beforeAll(async () => {
    port = await freePort();
    topics = createTestTopics();
    await topics.provisionCell('us', 4);
    schema = await createTestSchema('crash');
    telnyx = await startTelnyxSimulator({ apiKey: 'KEY_CRASH' });
    twilio = await startTwilioSimulator({ accountSid: SID, authToken: 'token-crash' });
    bus = new KafkaBus({ brokers: topics.brokers, clientId: 'crash-test', log: testKafkaLog });
    const kms = new LocalKms(masterKey);
    const keyring = new Keyring({ kms, store: new InMemoryControllerKeyStore() });
    const wrapped = await keyring.create(toControllerId('acme'));
    const keys = await keyring.get(toControllerId('acme'));
    const sha = 'e'.repeat(64);
    const state: ControllerState = {
      controllerId: 'acme',
      name: 'Acme',
      region: 'us',
      revision: 1,
      keys: { dataKey: wrapped.dataKey, pseudonymKey: wrapped.pseudonymKey },
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
    await bus.producer().send([
      {
        topic: topicFor('us', 'controllers.v1', topics.namespace),
        key: 'acme',
        value: encodeJson(controllerStateSchema, state),
      },
    ]);
    // Many senders, so the per-sender rate limit does not make the run slow.
    for (let i = 0; i < MESSAGES; i += 500) {
      await bus.producer().send(
        Array.from({ length: Math.min(500, MESSAGES - i) }, (_, k) => {
          const n = i + k;
          const to = `+1415${String(2_000_000 + n)}`;
          const ctx = (field: string) => ({
            controllerId: toControllerId('acme'),
            recordId: `c-${n}`,
            field,
          });
          const pseudonym = pseudonymise(keys.pseudonymKey, toE164(to));
          return {
            topic: topicFor('us', 'sms.dispatch.v1', topics.namespace),
            key: pseudonym,
            value: encodeJson(dispatchRecordSchema, {
              messageId: `c-${n}`,
              controllerId: 'acme',
              campaignId: 'crash',
              purpose: 'essential.service.notifications.sms',
              region: 'us',
              instruction: state.instruction!.ref,
              recipient: encryptField(keys.dataKey, to, ctx('to')),
              recipientPseudonym: pseudonym,
              from: `+1415555${String(1000 + (n % 200)).padStart(4, '0')}`,
              senderKind: 'e164',
              body: encryptField(keys.dataKey, `crash test ${n}`, ctx('body')),
              encoding: 'GSM-7',
              segments: 1,
              acceptedAt: new Date().toISOString(),
            }),
          };
        }),
      );
    }
    await bus.readFromStart({
      topics: [topicFor('us', 'sms.status.v1', topics.namespace)],
      onRecords: (records) => {
        for (const r of records) {
          const s = statusEventSchema.parse(JSON.parse(r.value!.toString()));
          statuses.set(s.messageId, s.status);
        }
      },
    });
  }, 120_000);
  afterAll(async () => {
    await bus.close();
    await schema.drop();
    await topics.cleanup();
    await telnyx.close();
    await twilio.close();
  });

  it('no message id is accepted twice by any carrier, and every message ends terminal or unknown', {
    timeout: 240_000,
  }, async () => {
    const first = start();
    await eventually(120_000, () => expect(telnyx.ledger.size).toBeGreaterThan(MESSAGES / 4));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const acceptedBeforeCrash = telnyx.ledger.size + twilio.ledger.size;
    expect(acceptedBeforeCrash).toBeLessThan(MESSAGES); // killed mid-run

    const second = start();
    try {
      await eventually(180_000, () => {
        const open = [...Array(MESSAGES).keys()].filter((n) => {
          return statuses.get(`c-${n}`) === undefined;
        });
        expect(open).toEqual([]);
      });
    } finally {
      second.kill('SIGTERM');
    }
    for (let n = 0; n < MESSAGES; n++) {
      const sends = telnyx.ledger.countForCallbackId(`c-${n}`) + twilio.ledger.countForCallbackId(`c-${n}`);
      expect(sends, `c-${n}`).toBeLessThanOrEqual(1);
    }
    const final = [...statuses.values()];
    expect(
      final.every((s) => ['queued', 'sent', 'delivered', 'undelivered', 'failed', 'unknown'].includes(s)),
    ).toBe(true);
  });
});
