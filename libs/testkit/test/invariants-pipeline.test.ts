import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  type ControllerState,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  instructionRef,
  type StatusEvent,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
  webhookEventTypes,
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
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '../src/carriers/index.ts';
import {
  createTestSchema,
  createTestTopics,
  eventually,
  type TestSchema,
  type TestTopics,
  testKafkaLog,
} from '../src/index.ts';
import {
  callbackTarget,
  checkInvariants,
  checkRunUntilClean,
  collectRun,
  formatReport,
  type RunSources,
  webhookStatusChange,
} from '../src/invariants/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../src/receiver/index.ts';

// The checker after a real run: router, dispatcher and webhooks as the processes `massivesms`
// starts, on the real broker and PostgreSQL, with both carrier simulators and a receiver. A clean
// run must give a clean report; then a loss and a duplicate planted in the real sources must be
// found, and a status merely republished must not be.

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const SID = `AC${'6'.repeat(32)}`;
const PURPOSE = 'essential.service.notifications.sms';
const WAVE_ONE = 46; // plus a rejected, an expired and an unreadable request; the suppressed one comes later
const terminalTypes = ['delivered', 'undelivered', 'failed', 'rejected', 'suppressed', 'expired'].map(
  (s) => `message.${s}`,
);

describe('the invariant checker on a real pipeline (router, dispatcher, webhooks processes)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let telnyx: TelnyxSimulator;
  let twilio: TwilioSimulator;
  let receiver: WebhookReceiver;
  let bus: KafkaBus;
  let sources: RunSources;
  const masterKey = generateMasterKey();
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const processes = new Map<string, ChildProcess>();
  const logs: string[] = [];
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor('us', name, topics.namespace);
  const suppressedNumber = '+14155559999';

  function start(service: 'router' | 'dispatcher' | 'webhooks'): void {
    const child = spawn(process.execPath, [cli, service], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: '0',
        LOG_LEVEL: 'warn',
        KMS_MASTER_KEY: masterKey,
        TOPIC_NAMESPACE: topics.namespace,
        TELNYX_API_KEY: 'KEY_INVARIANTS',
        TELNYX_PUBLIC_KEY: telnyx.publicKey,
        TELNYX_BASE_URL: telnyx.baseUrl,
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: 'token-invariants',
        TWILIO_BASE_URL: twilio.baseUrl,
        WEBHOOKS_ALLOWLIST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Kept, and shown only when a test fails.
    for (const stream of [child.stdout!, child.stderr!])
      stream.on('data', (chunk: Buffer) => logs.push(`[${service}] ${chunk.toString()}`));
    processes.set(service, child);
  }

  async function stop(service: string): Promise<void> {
    const child = processes.get(service);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  }

  const request = (n: string, to: string, extra: Record<string, unknown> = {}) => ({
    messageId: n,
    controllerId: 'acme',
    campaignId: 'invariants',
    purpose: PURPOSE,
    to,
    from: `+1415555${String(1000 + (Number(n.replace(/\D/g, '')) % 10))}`,
    body: `Your order ${n} has shipped.`,
    ...extra,
  });
  const produceRequests = (values: readonly (object | string)[]) =>
    bus.producer().send(
      values.map((value) => ({
        topic: topic('sms.requested.v1'),
        key: null,
        value: typeof value === 'string' ? value : JSON.stringify(value),
      })),
    );
  /** Distinct terminal webhooks the receiver answered 2xx. */
  const terminalWebhooks = () =>
    new Set(
      receiver.received
        .filter((r) => r.status >= 200 && r.status < 300)
        .filter((r) => terminalTypes.includes(webhookStatusChange(r.body)?.type ?? ''))
        .map((r) => r.webhookId),
    ).size;

  beforeAll(async () => {
    topics = createTestTopics();
    await topics.provisionCell('us', 2);
    schema = await createTestSchema('invariants');
    telnyx = await startTelnyxSimulator({ apiKey: 'KEY_INVARIANTS' });
    twilio = await startTwilioSimulator({ accountSid: SID, authToken: 'token-invariants' });
    receiver = await startWebhookReceiver();
    bus = new KafkaBus({ brokers: topics.brokers, clientId: 'invariants-test', log: testKafkaLog });
    sources = {
      bus,
      cell: 'us',
      namespace: topics.namespace,
      carriers: [telnyx.ledger, twilio.ledger],
      receiver,
    };

    // The control plane's part: controller acme (Telnyx, then Twilio), one endpoint taking every
    // event type, and one recipient who opted out.
    const keyring = new Keyring({ kms: new LocalKms(masterKey), store: new InMemoryControllerKeyStore() });
    const wrapped = await keyring.create(toControllerId('acme'));
    const keys = await keyring.get(toControllerId('acme'));
    const sha = 'c'.repeat(64);
    const controller: ControllerState = {
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
        document: { purposes: [PURPOSE], subprocessors: ['telnyx', 'twilio'] },
      },
      updatedAt: new Date().toISOString(),
    };
    const endpoint: EndpointState = {
      endpointId: 'ep_shop',
      controllerId: 'acme',
      url: receiver.endpoint('shop', { secrets: [secret] }),
      eventTypes: webhookEventTypes.filter((t) => t.startsWith('message.')),
      enabled: true,
      revision: 1,
      secrets: [
        {
          secretId: 'sec_1',
          secret: encryptField(keys.dataKey, secret, {
            controllerId: toControllerId('acme'),
            recordId: 'ep_shop',
            field: 'secret:sec_1',
          }),
          createdAt: new Date().toISOString(),
          expiresAt: null,
        },
      ],
      updatedAt: new Date().toISOString(),
    };
    const optOut = {
      controllerId: 'acme',
      subjectPseudonym: pseudonymise(keys.pseudonymKey, toE164(suppressedNumber)),
      kind: 'opt_out' as const,
      active: true,
      source: 'operator',
      occurredAt: new Date().toISOString(),
    };
    await bus.producer().send([
      { topic: topic('controllers.v1'), key: 'acme', value: encodeJson(controllerStateSchema, controller) },
      { topic: topic('endpoints.v1'), key: 'ep_shop', value: encodeJson(endpointStateSchema, endpoint) },
      {
        topic: topic('suppressions.v1'),
        key: suppressionKey(optOut),
        value: encodeJson(suppressionEventSchema, optOut),
      },
    ]);
    // Telnyx refuses the first two sends (503): those messages fail over to Twilio.
    await telnyx.faults.configure({ next: [{ status5xx: 503 }, { status5xx: 503 }] });
    for (const service of ['router', 'dispatcher', 'webhooks'] as const) start(service);
  }, 120_000);

  afterAll(async () => {
    for (const service of processes.keys()) await stop(service);
    await bus?.close();
    await receiver?.close();
    await telnyx?.close();
    await twilio?.close();
    await schema?.drop();
    await topics?.cleanup();
  });

  it('finds nothing wrong with a clean run', { timeout: 180_000 }, async () => {
    onTestFailed(() => console.log(logs.join('')));
    await produceRequests([
      ...Array.from({ length: WAVE_ONE }, (_, n) => request(`m-${n}`, `+1415${String(2_000_000 + n)}`)),
      request('m-bad-number', 'not a number'),
      request('m-expired', '+14152999999', { validUntil: new Date(Date.now() - 60_000).toISOString() }),
      'this is not JSON',
    ]);
    // Every request but the unreadable one ends with a terminal status the endpoint hears of.
    await eventually(120_000, () => expect(terminalWebhooks()).toBe(WAVE_ONE + 2));
    // The router is surely following the suppressions by now.
    await produceRequests([request('m-opted-out', suppressedNumber)]);
    await eventually(60_000, () => expect(terminalWebhooks()).toBe(WAVE_ONE + 3));

    // Webhook attempts and their processing events are recorded just after the receiver answers.
    const report = await checkRunUntilClean(sources, { webhookStatuses: 'all', withinMs: 60_000 });
    expect(report.violations, formatReport(report)).toEqual([]);
    expect(report.checked).toMatchObject({
      requests: WAVE_ONE + 4,
      carrierAcceptances: WAVE_ONE,
      processingRules: ['route', 'send', 'webhook.deliver'],
    });
    // The run took every road: failover, and each way a request ends without a carrier.
    expect(twilio.ledger.size).toBeGreaterThanOrEqual(2);
    const run = await collectRun(sources);
    const finals = new Map(run.statuses.map((s) => [s.messageId, s.status]));
    expect(finals.get('m-bad-number')).toBe('rejected');
    expect(finals.get('m-expired')).toBe('expired');
    expect(finals.get('m-opted-out')).toBe('suppressed');
    expect(
      run.rejections.some(
        (r) => r.messageId === undefined && r.digest !== undefined && r.sealed === undefined,
      ),
    ).toBe(true);
  });

  it('finds a planted loss and a planted duplicate, and not a republished status', {
    timeout: 120_000,
  }, async () => {
    onTestFailed(() => console.log(logs.join('')));
    const before = await collectRun(sources);
    const delivered = before.statuses.filter((s) => s.status === 'delivered');
    const [first, second] = delivered as [StatusEvent, StatusEvent];

    // A loss: a request produced while no router runs is never answered.
    await stop('router');
    await produceRequests([request('m-lost', '+14152000999')]);

    // A duplicate: a message Telnyx already has is sent to it again (receipts withheld, so the
    // dispatcher is left alone).
    const firstSend = telnyx.ledger.entries[0]!;
    const duplicated = callbackTarget(firstSend.callbackUrl)!.messageId;
    await telnyx.faults.configure({ receipts: { drop: true } });
    const resend = await fetch(new URL('/v2/messages', telnyx.baseUrl), {
      method: 'POST',
      headers: { authorization: 'Bearer KEY_INVARIANTS', 'content-type': 'application/json' },
      body: JSON.stringify({
        from: firstSend.from,
        to: firstSend.to,
        text: firstSend.text,
        webhook_url: firstSend.callbackUrl,
      }),
    });
    expect(resend.status).toBe(200);

    // A webhook delivered again under a new webhook-id.
    const webhookBody = receiver.received.find(
      (r) =>
        r.status === 200 &&
        webhookStatusChange(r.body)?.messageId === second.messageId &&
        webhookStatusChange(r.body)?.status === 'delivered',
    )!.body;
    const newId = `msg_${randomBytes(12).toString('hex')}`;
    const at = new Date();
    const signed = await fetch(`${receiver.origin}/hooks/shop`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': newId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(newId, at, webhookBody),
      },
      body: webhookBody,
    });
    expect(signed.status).toBe(200);

    // Not a violation: a status republished with a new event id and the same statusSeq.
    await bus.producer().send([
      {
        topic: topic('sms.status.v1'),
        key: `acme:${first.messageId}`,
        value: JSON.stringify({ ...first, eventId: `republished-${randomBytes(4).toString('hex')}` }),
      },
    ]);

    const after = await collectRun(sources);
    const report = checkInvariants(after);
    const found = report.violations.map((v) => [v.kind, v.messageId, v.rule ?? v.endpointId ?? '']);
    expect(found, formatReport(report)).toEqual([
      ['missing_terminal', 'm-lost', ''],
      ['double_send', duplicated, ''],
      ['webhook_id_changed', second.messageId, 'ep_shop'],
      ['processing_event_missing', duplicated, 'send'], // nobody logged the planted send either
    ]);
    expect(after.statuses.length).toBe(before.statuses.length + 1); // the republished copy is there

    // A status the topic lost: the message has no terminal status any more.
    const withoutStatus = {
      ...before,
      statuses: before.statuses.filter((s) => s.messageId !== second.messageId || s.status !== 'delivered'),
    };
    expect(checkInvariants(withoutStatus).violations).toEqual([
      expect.objectContaining({
        kind: 'missing_terminal',
        messageId: second.messageId,
        detail: expect.stringMatching(/^last status (queued|sent)@\d+ is not terminal$/),
      }),
    ]);
  });
});
