import {
  decodeJsonOrThrow,
  type PrivacyService,
  privacyAckRecords,
  privacyRequestSchema,
  type TerminationRequest,
  topicFor,
} from '@massivesms/contracts';
import type { ReaderHandle } from '@massivesms/messaging';
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlHarness, startControl } from './harness.ts';

const DAY_MS = 86_400_000;

// The control plane's part of a termination (DPA §11), the services' answers simulated on
// privacy.acks.v1: who may file and read it, when the deletion starts, a failed deletion and its
// retry. The whole flow through every service is bin/test/faults/termination.test.ts.
describe('terminations at the control plane (real PostgreSQL and Kafka)', () => {
  let h: ControlHarness;
  let offsetMs = 0;
  let acmeToken: string;
  let globexToken: string;
  let reader: ReaderHandle;
  const commands: TerminationRequest[] = [];

  const path = (controllerId: string, rest = '') => `/v1/controllers/${controllerId}/termination${rest}`;
  const commandAfter = async (seen: number) => {
    await eventually(10_000, () => expect(commands.length).toBeGreaterThan(seen));
    return commands.at(-1)!;
  };
  const answer = async (request: TerminationRequest, service: PrivacyService, outcome: 'done' | 'failed') => {
    const [ack] = privacyAckRecords(
      { cell: 'us', namespace: h.topics.namespace },
      service,
      request,
      outcome === 'done'
        ? { outcome, erased: { [`${service}_rows`]: 3 }, retained: ['opt-outs by pseudonym'] }
        : { outcome, reason: 'database refused the deletion' },
      new Date(),
    );
    await h.bus.producer().send([ack!]);
  };

  beforeAll(async () => {
    h = await startControl({ clock: () => new Date(Date.now() + offsetMs) });
    for (const id of ['acme', 'globex'])
      expect((await h.call('POST', '/v1/controllers', { body: { id, name: id, region: 'us' } })).status).toBe(
        201,
      );
    acmeToken = (await h.call('POST', '/v1/controllers/acme/tokens')).body.token;
    globexToken = (await h.call('POST', '/v1/controllers/globex/tokens')).body.token;
    reader = await h.bus.readFromStart({
      topics: [topicFor('us', 'privacy.requests.v1', h.topics.namespace)],
      onRecords: (records) => {
        for (const record of records) {
          const request = decodeJsonOrThrow(privacyRequestSchema, record.value);
          if (request.type === 'termination') commands.push(request);
        }
      },
    });
  }, 60_000);
  afterAll(async () => {
    await reader?.stop();
    await h?.close();
  });

  it('answers another controller’s token 404 and no token 401; a controller without one 404', async () => {
    expect((await h.call('POST', path('acme'), { token: globexToken })).status).toBe(404);
    expect((await h.call('POST', path('acme'), { token: null })).status).toBe(401);
    const none = await h.call('GET', path('acme'), { token: acmeToken });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('NOT_FOUND');
  });

  it('files once, starts the deletion only after the grace period, fails on a failed answer and retries when filed again', async () => {
    const filed = await h.call('POST', path('acme'), { token: acmeToken });
    expect(filed.status).toBe(202);
    expect(filed.body).toMatchObject({ status: 'grace', returnBundle: `${path('acme')}/return-bundle` });
    expect(Date.parse(filed.body.deleteAfter) - Date.parse(filed.body.requestedAt)).toBe(30 * DAY_MS);
    // Filing again answers the same termination.
    expect((await h.call('POST', path('acme'), { token: acmeToken })).body).toEqual(filed.body);
    // No audit service here: the bundle cannot be made, and says why.
    const bundle = await h.call('GET', `${path('acme')}/return-bundle`, { token: acmeToken });
    expect(bundle.status).toBe(503);
    expect(bundle.body.code).toBe('AUDIT_LEDGER_UNAVAILABLE');

    offsetMs = 30 * DAY_MS - 60_000;
    expect(await h.control.terminations.runDue()).toBe(0);
    expect(commands).toEqual([]);
    offsetMs = 30 * DAY_MS + 1;
    expect(await h.control.terminations.runDue()).toBe(1);
    expect(await h.control.terminations.runDue()).toBe(0);
    const first = await commandAfter(0);
    expect(first).toMatchObject({ controllerId: 'acme', type: 'termination', region: 'us' });

    await answer(first, 'router', 'done');
    await answer(first, 'dispatcher', 'failed');
    await answer(first, 'webhooks', 'done');
    await eventually(15_000, async () => {
      expect((await h.call('GET', path('acme'), { token: acmeToken })).body.status).toBe('failed');
    });
    // Nothing was destroyed: the key is still there.
    const { rows: before } = await h.db.query<{ data_key_wrapped: string | null }>(
      `SELECT data_key_wrapped FROM control_controller_keys WHERE controller_id = 'acme'`,
    );
    expect(before[0]!.data_key_wrapped).not.toBeNull();

    // Filed again: a new deletion command; once every service answers done, it completes.
    const retried = await h.call('POST', path('acme'), { token: acmeToken });
    expect(retried.body.status).toBe('deleting');
    const second = await commandAfter(1);
    expect(second.requestId).not.toBe(first.requestId);
    for (const service of ['router', 'dispatcher', 'webhooks'] as const)
      await answer(second, service, 'done');
    let done: Awaited<ReturnType<ControlHarness['call']>>['body'];
    await eventually(15_000, async () => {
      done = (await h.call('GET', path('acme'), { token: acmeToken })).body;
      expect(done.status).toBe('completed');
    });
    expect(done.acknowledged.map((a: { service: string }) => a.service)).toEqual([
      'dispatcher',
      'router',
      'webhooks',
    ]);
    expect(done.returnBundle).toBeNull();
    const certificate = await h.call('GET', `${path('acme')}/deletion-certificate`, { token: acmeToken });
    expect(certificate.status).toBe(200);
    expect(certificate.body).toMatchObject({
      controllerId: 'acme',
      // No audit service on this control plane: the certificate says so rather than inventing one.
      ledgerCheckpoint: null,
      deleted: { dispatcher: { erased: { dispatcher_rows: 3 } } },
    });
    // The other controller is untouched, and a terminated controller's data cannot be processed.
    expect((await h.call('GET', path('globex'), { token: globexToken })).status).toBe(404);
    const late = await h.call('POST', '/v1/controllers/acme/subject-requests', {
      token: acmeToken,
      body: { type: 'access', phoneNumber: '+4915112345678' },
    });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('CONTROLLER_TERMINATED');
  });
});
