import {
  decodeJsonOrThrow,
  type PrivacyAck,
  type PrivacyService,
  privacyAckRecords,
  privacyExportContext,
  privacyRequestSchema,
  privacySubjectContext,
  type SubjectPrivacyRequest,
  topicFor,
} from '@massivesms/contracts';
import type { IncomingRecord, ReaderHandle } from '@massivesms/messaging';
import {
  type ControllerKeys,
  decryptField,
  encryptField,
  Keyring,
  LocalKms,
  toControllerId,
  toWrappedKey,
} from '@massivesms/privacy';
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlHarness, startControl } from './harness.ts';

const NUMBER = '+4915112345678';

describe('data-subject requests at the control plane (real PostgreSQL and Kafka)', () => {
  let h: ControlHarness;
  let acmeToken: string;
  let globexToken: string;
  let keys: ControllerKeys;
  let reader: ReaderHandle;
  const commands: { record: IncomingRecord; request: SubjectPrivacyRequest }[] = [];

  const path = (controllerId: string, id = '') =>
    `/v1/controllers/${controllerId}/subject-requests${id ? `/${id}` : ''}`;
  const file = async (type: string, phoneNumber = NUMBER) => {
    const res = await h.call('POST', path('acme'), { token: acmeToken, body: { type, phoneNumber } });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const read = async (id: string) => (await h.call('GET', path('acme', id), { token: acmeToken })).body;
  const commandOf = async (id: string) => {
    let found: SubjectPrivacyRequest | undefined;
    await eventually(10_000, () => {
      found = commands.find((c) => c.request.requestId === id)?.request;
      expect(found).toBeDefined();
    });
    return found!;
  };
  /** What a service would answer: its ack (an export part sealed under the controller's key). */
  const ack = async (
    request: SubjectPrivacyRequest,
    service: PrivacyService,
    result: Omit<
      PrivacyAck,
      'ackId' | 'requestId' | 'controllerId' | 'region' | 'service' | 'type' | 'occurredAt'
    >,
  ) => {
    const [record] = privacyAckRecords(
      { cell: 'us', namespace: h.topics.namespace },
      service,
      request,
      result,
      new Date(),
    );
    await h.bus.producer().send([record!]);
  };
  const sealPart = (request: SubjectPrivacyRequest, service: PrivacyService, part: unknown) =>
    encryptField(keys.dataKey, JSON.stringify(part), {
      ...privacyExportContext('acme', request.requestId, service),
      controllerId: toControllerId('acme'),
    });

  beforeAll(async () => {
    h = await startControl();
    for (const id of ['acme', 'globex'])
      expect((await h.call('POST', '/v1/controllers', { body: { id, name: id, region: 'us' } })).status).toBe(
        201,
      );
    acmeToken = (await h.call('POST', '/v1/controllers/acme/tokens')).body.token;
    globexToken = (await h.call('POST', '/v1/controllers/globex/tokens')).body.token;
    const { rows } = await h.db.query<{ data_key_wrapped: string; pseudonym_key_wrapped: string }>(
      `SELECT data_key_wrapped, pseudonym_key_wrapped FROM control_controller_keys WHERE controller_id = 'acme'`,
    );
    const keyring = new Keyring({
      kms: new LocalKms(h.masterKey),
      store: {
        get: async () => ({
          status: 'active',
          keys: {
            dataKey: toWrappedKey(rows[0]!.data_key_wrapped),
            pseudonymKey: toWrappedKey(rows[0]!.pseudonym_key_wrapped),
          },
        }),
        insert: async () => false,
        destroy: async () => {},
      },
    });
    keys = await keyring.get(toControllerId('acme'));
    reader = await h.bus.readFromStart({
      topics: [topicFor('us', 'privacy.requests.v1', h.topics.namespace)],
      onRecords: (records) => {
        for (const record of records) {
          const request = decodeJsonOrThrow(privacyRequestSchema, record.value);
          if (request.type !== 'termination') commands.push({ record, request });
        }
      },
    });
  }, 60_000);
  afterAll(async () => {
    await reader?.stop();
    await h?.close();
  });

  it('answers another controller’s token 404, no token 401, and a number not in E.164 400', async () => {
    const body = { type: 'access', phoneNumber: NUMBER };
    expect((await h.call('POST', path('acme'), { token: globexToken, body })).status).toBe(404);
    expect((await h.call('POST', path('acme'), { token: null, body })).status).toBe(401);
    const spaced = await h.call('POST', path('acme'), {
      token: acmeToken,
      body: { type: 'access', phoneNumber: '+49 151 12345678' },
    });
    expect(spaced.status).toBe(400);
    expect(spaced.body.code).toBe('REQUEST_INVALID');
    const id = await file('access');
    expect((await h.call('GET', path('acme', id), { token: globexToken })).status).toBe(404);
    expect((await h.call('GET', path('globex', id), { token: globexToken })).status).toBe(404);
  });

  it('publishes the command keyed by pseudonym, with the number sealed to the request', async () => {
    const id = await file('objection');
    const command = await commandOf(id);
    const { record } = commands.find((c) => c.request.requestId === id)!;
    expect(record.key).toBe(`acme:${command.subjectPseudonym}`);
    expect(record.value!.toString()).not.toContain(NUMBER.slice(1));
    expect(
      decryptField(keys.dataKey, command.subject, {
        ...privacySubjectContext('acme', id),
        controllerId: toControllerId('acme'),
      }),
    ).toBe(NUMBER);
    // The same subject always has the same pseudonym (that is how every service finds its rows).
    expect((await commandOf(await file('access'))).subjectPseudonym).toBe(command.subjectPseudonym);
  });

  it('completes only once every expected service acknowledged, and assembles the access export', async () => {
    const id = await file('access');
    const request = await commandOf(id);
    await ack(request, 'router', {
      outcome: 'done',
      export: sealPart(request, 'router', { suppressions: [] }),
    });
    await ack(request, 'dispatcher', {
      outcome: 'done',
      export: sealPart(request, 'dispatcher', { messages: [{ messageId: 'm-1' }] }),
    });
    await eventually(10_000, async () => expect((await read(id)).acknowledged).toHaveLength(2));
    const pending = await read(id);
    expect(pending.status).toBe('pending');
    expect(pending.export).toBeNull();
    await ack(request, 'webhooks', {
      outcome: 'done',
      export: sealPart(request, 'webhooks', { deliveries: [] }),
    });
    await eventually(10_000, async () => expect((await read(id)).status).toBe('completed'));
    const done = await read(id);
    expect(done.export.subject).toEqual({ phoneNumber: NUMBER });
    expect(done.export.dispatcher).toEqual({ messages: [{ messageId: 'm-1' }] });
    expect(done.export.router).toEqual({ suppressions: [] });
    expect(done.export.subjectRequests.map((r: { id: string }) => r.id)).toContain(id);
  });

  it('fails a request a service could not act on, and erases control’s copies on a completed erasure', async () => {
    const access = await file('access');
    const accessCommand = await commandOf(access);
    for (const service of ['router', 'dispatcher', 'webhooks'] as const)
      await ack(accessCommand, service, { outcome: 'done', export: sealPart(accessCommand, service, {}) });
    await eventually(10_000, async () => expect((await read(access)).status).toBe('completed'));

    const failing = await file('erasure');
    const failingCommand = await commandOf(failing);
    await ack(failingCommand, 'router', { outcome: 'done', erased: {} });
    await ack(failingCommand, 'dispatcher', { outcome: 'done', erased: { dispatcher_messages: 1 } });
    await ack(failingCommand, 'webhooks', {
      outcome: 'failed',
      reason: "the controller's keys are not available",
    });
    await eventually(10_000, async () => expect((await read(failing)).status).toBe('failed'));
    expect((await read(access)).export).not.toBeNull(); // nothing erased at control on a failure

    const erasure = await file('erasure');
    const command = await commandOf(erasure);
    for (const service of ['router', 'dispatcher', 'webhooks'] as const)
      await ack(command, service, { outcome: 'done', erased: {} });
    // A repeated acknowledgement changes nothing.
    await ack(command, 'router', { outcome: 'failed', reason: 'late copy' });
    await eventually(10_000, async () => expect((await read(erasure)).status).toBe('completed'));
    const erased = await read(erasure);
    expect(erased.acknowledged.find((a: { service: string }) => a.service === 'router').outcome).toBe('done');
    expect(erased.result.control.erased.control_subject_requests).toBeGreaterThan(1);
    const earlier = await read(access);
    expect(earlier.export).toBeNull();
    expect(earlier.erasedAt).not.toBeNull();
    const { rows } = await h.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM control_subject_requests WHERE subject_pseudonym = $1 AND subject IS NOT NULL`,
      [command.subjectPseudonym],
    );
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it('answers rectification at once: nothing stored is rectifiable, and says why', async () => {
    const id = await file('rectification');
    const res = await read(id);
    expect(res.status).toBe('completed');
    expect(res.result.rectified).toEqual([]);
    expect(res.result.explanation).toMatch(/erasure/);
    expect(commands.some((c) => c.request.requestId === id)).toBe(false);
  });
});
