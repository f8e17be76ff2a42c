import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ProcessingEvent, processingEventSchema, topicFor } from '@massivesms/contracts';
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The webhooks service's own store seeds the rows, so they look exactly as its worker leaves them.
import { type DeliveryState, PgDeliveryStore } from '../../webhooks/src/adapters/pg-delivery-store.ts';
import { type ControlHarness, startControl } from './harness.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** In every seeded body: it must never come back from the API. */
const BODY_MARKER = '+15550001234';

interface Attempt {
  readonly httpStatus: number | null;
  readonly errorClass?: string;
}

// Listings come from the webhooks service's internal routes; resend and recover travel as commands on
// {cell}.webhooks.commands.v1 that its consumer carries out (both run here over the same test schema).
describe("webhook recovery API (real PostgreSQL and Kafka, the webhooks service's routes and command consumer)", () => {
  let h: ControlHarness;
  let store: PgDeliveryStore;
  const acme = { token: '', tokenId: '' };
  const globex = { token: '', tokenId: '' };

  beforeAll(async () => {
    h = await startControl({ webhooks: true });
    store = new PgDeliveryStore(h.db);
    for (const [id, who] of [
      ['acme', acme],
      ['globex', globex],
    ] as const) {
      expect(
        (await h.call('POST', '/v1/controllers', { body: { id, name: `${id} Inc.`, region: 'us' } })).status,
      ).toBe(201);
      const issued = (await h.call('POST', `/v1/controllers/${id}/tokens`)).body;
      who.token = issued.token;
      who.tokenId = issued.tokenId;
    }
  });
  afterAll(() => h.close());

  /** A fresh endpoint of the controller, registered through the API (the control plane owns them). */
  async function endpointOf(controllerId: string, token: string): Promise<string> {
    const res = await h.call('POST', `/v1/controllers/${controllerId}/endpoints`, {
      token,
      body: { url: `https://hooks.example.test/${controllerId}`, eventTypes: ['message.delivered'] },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /**
   * A delivery created at `createdAt`, attempted as listed (each under a worker's lease, as the
   * webhooks worker does) and left in `state`.
   */
  async function seed(d: {
    webhookId: string;
    controllerId: string;
    endpointId: string;
    messageId: string;
    createdAt: Date;
    attempts: readonly Attempt[];
    state: DeliveryState;
  }): Promise<void> {
    const body = JSON.stringify({
      type: 'message.delivered',
      data: { messageId: d.messageId, to: BODY_MARKER },
    });
    expect(
      await store.insert(
        [
          {
            webhookId: d.webhookId,
            endpointId: d.endpointId,
            controllerId: d.controllerId,
            messageId: d.messageId,
            eventType: 'message.delivered',
            body,
          },
        ],
        d.createdAt,
      ),
    ).toBe(1);
    for (const [i, a] of d.attempts.entries()) {
      const last = i === d.attempts.length - 1;
      const startedAt = new Date(d.createdAt.getTime() + i * MINUTE);
      const next = last ? d.state : 'pending';
      const nextAttemptAt = next === 'pending' ? new Date(Date.now() + HOUR) : undefined;
      await h.db.query(
        "UPDATE webhook_deliveries SET lease_owner = 'seed', lease_until = $2 WHERE webhook_id = $1",
        [d.webhookId, new Date(Date.now() + HOUR)],
      );
      const recorded = await store.recordAttempt(
        'seed',
        {
          webhookId: d.webhookId,
          attempt: i + 1,
          startedAt,
          httpStatus: a.httpStatus,
          latencyMs: 40 + i,
          errorClass: a.errorClass ?? null,
          responseExcerpt: a.httpStatus === null ? null : `status ${a.httpStatus}`,
          nextAttemptAt: nextAttemptAt ?? null,
        },
        {
          state: next,
          ...(nextAttemptAt ? { nextAttemptAt } : {}),
          lastError: next === 'dead' ? 'gave up after the last scheduled attempt' : null,
        },
        new Date(startedAt.getTime() + 50),
      );
      expect(recorded).toBe(true);
    }
  }

  const ago = (ms: number) => new Date(Date.now() - ms);
  const failedThrice: Attempt[] = [
    { httpStatus: 500, errorClass: 'http_5xx' },
    { httpStatus: 502, errorClass: 'http_5xx' },
    { httpStatus: null, errorClass: 'timeout' },
  ];

  async function row(webhookId: string) {
    const { rows } = await h.db.query<{
      state: string;
      attempts: number;
      retry_from: number;
      next_attempt_at: Date;
    }>('SELECT state, attempts, retry_from, next_attempt_at FROM webhook_deliveries WHERE webhook_id = $1', [
      webhookId,
    ]);
    return rows[0]!;
  }

  /** Polls a command as a client would until the webhooks service carried it out. */
  async function outcomeOf(controllerId: string, token: string, commandId: string) {
    let body: Record<string, unknown> = {};
    await eventually(15_000, async () => {
      const res = await h.call('GET', `/v1/controllers/${controllerId}/webhook-commands/${commandId}`, {
        token,
      });
      expect(res.status).toBe(200);
      body = res.body;
      expect(body.status).not.toBe('queued');
    });
    return body;
  }

  async function processingEvents(): Promise<ProcessingEvent[]> {
    const seen: unknown[] = [];
    const reader = await h.bus.readFromStart({
      topics: [topicFor('us', 'audit.processing.v1', h.topics.namespace)],
      onRecords: (records) => {
        for (const r of records) seen.push(JSON.parse(r.value!.toString()));
      },
    });
    await reader.caughtUp;
    await reader.stop();
    return seen.map((e) => processingEventSchema.parse(e));
  }

  describe('listing', () => {
    let endpointId: string;
    let globexEndpointId: string;

    beforeAll(async () => {
      endpointId = await endpointOf('acme', acme.token);
      globexEndpointId = await endpointOf('globex', globex.token);
      await seed({
        webhookId: 'msg_list_dead',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_list_1',
        createdAt: ago(3 * HOUR),
        attempts: failedThrice,
        state: 'dead',
      });
      await seed({
        webhookId: 'msg_list_delivered',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_list_1',
        createdAt: ago(2 * HOUR),
        attempts: [{ httpStatus: 503, errorClass: 'http_5xx' }, { httpStatus: 200 }],
        state: 'delivered',
      });
      await seed({
        webhookId: 'msg_list_pending',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_list_2',
        createdAt: ago(HOUR),
        attempts: [{ httpStatus: 429, errorClass: 'http_429' }],
        state: 'pending',
      });
      await seed({
        webhookId: 'msg_list_old',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_list_3',
        createdAt: ago(30 * HOUR),
        attempts: [{ httpStatus: 200 }],
        state: 'delivered',
      });
      // Globex has a message with the same id: it must never show up in acme's answers.
      await seed({
        webhookId: 'msg_list_globex',
        controllerId: 'globex',
        endpointId: globexEndpointId,
        messageId: 'm_list_1',
        createdAt: ago(2 * HOUR),
        attempts: [{ httpStatus: 200 }],
        state: 'delivered',
      });
    });

    it("lists a message's deliveries with every attempt, in the documented shape and never the body", async () => {
      const res = await h.call('GET', '/v1/controllers/acme/messages/m_list_1/webhook-deliveries', {
        token: acme.token,
      });
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain(BODY_MARKER);
      const [dead, delivered] = res.body.deliveries;
      expect(res.body.deliveries).toHaveLength(2);
      expect(Object.keys(dead).sort()).toEqual(
        [
          'attempts',
          'createdAt',
          'endpointId',
          'eventType',
          'finishedAt',
          'lastError',
          'messageId',
          'nextAttemptAt',
          'state',
          'webhookId',
        ].sort(),
      );
      expect(dead).toMatchObject({
        webhookId: 'msg_list_dead',
        endpointId,
        messageId: 'm_list_1',
        eventType: 'message.delivered',
        state: 'dead',
        nextAttemptAt: null,
        lastError: 'gave up after the last scheduled attempt',
      });
      expect(Date.parse(dead.finishedAt)).not.toBeNaN();
      expect(
        dead.attempts.map((a: { attempt: number; httpStatus: number | null }) => [a.attempt, a.httpStatus]),
      ).toEqual([
        [1, 500],
        [2, 502],
        [3, null],
      ]);
      expect(dead.attempts[2]).toMatchObject({
        errorClass: 'timeout',
        responseExcerpt: null,
        nextAttemptAt: null,
      });
      expect(Date.parse(dead.attempts[0].startedAt)).toBe(Date.parse(dead.createdAt));
      expect(dead.attempts[0].nextAttemptAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(delivered).toMatchObject({
        webhookId: 'msg_list_delivered',
        state: 'delivered',
        lastError: null,
      });
      expect(delivered.attempts.map((a: { httpStatus: number }) => a.httpStatus)).toEqual([503, 200]);

      const theirs = await h.call('GET', '/v1/controllers/globex/messages/m_list_1/webhook-deliveries', {
        token: globex.token,
      });
      expect(theirs.body.deliveries.map((d: { webhookId: string }) => d.webhookId)).toEqual([
        'msg_list_globex',
      ]);
      const none = await h.call('GET', '/v1/controllers/acme/messages/m_unknown/webhook-deliveries', {
        token: acme.token,
      });
      expect(none).toMatchObject({ status: 200, body: { deliveries: [] } });
    });

    it("lists an endpoint's deliveries newest first, the last 24 h unless `since` says otherwise", async () => {
      const ids = async (query: string) => {
        const res = await h.call('GET', `/v1/controllers/acme/endpoints/${endpointId}/deliveries${query}`, {
          token: acme.token,
        });
        expect(res.status, query).toBe(200);
        expect(JSON.stringify(res.body)).not.toContain(BODY_MARKER);
        return res.body.deliveries.map((d: { webhookId: string }) => d.webhookId);
      };
      expect(await ids('')).toEqual(['msg_list_pending', 'msg_list_delivered', 'msg_list_dead']);
      expect(await ids(`?since=${encodeURIComponent(ago(31 * HOUR).toISOString())}`)).toEqual([
        'msg_list_pending',
        'msg_list_delivered',
        'msg_list_dead',
        'msg_list_old',
      ]);
      expect(await ids(`?since=${encodeURIComponent(ago(150 * MINUTE).toISOString())}`)).toEqual([
        'msg_list_pending',
        'msg_list_delivered',
      ]);
      expect(await ids('?limit=1')).toEqual(['msg_list_pending']);
      const pending = (
        await h.call('GET', `/v1/controllers/acme/endpoints/${endpointId}/deliveries?limit=1`, {
          token: acme.token,
        })
      ).body.deliveries[0];
      expect(Date.parse(pending.nextAttemptAt)).toBeGreaterThan(Date.now());
      expect(pending.finishedAt).toBeNull();
    });

    it.each([
      ['a date without a time', '?since=2025-01-01'],
      ['an impossible date', '?since=2025-13-45T00:00:00Z'],
      ['no date at all', '?since=yesterday'],
      ['a limit of 0', '?limit=0'],
      ['a limit above 500', '?limit=501'],
      ['a limit that is not a number', '?limit=many'],
      ['an unknown parameter', '?state=dead'],
    ])('answers 400 REQUEST_INVALID for %s', async (_label, query) => {
      const res = await h.call('GET', `/v1/controllers/acme/endpoints/${endpointId}/deliveries${query}`, {
        token: acme.token,
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'REQUEST_INVALID', status: 400, type: expect.any(String) });
      expect(res.body.errors.length).toBeGreaterThan(0);
    });

    it("answers 404 for an endpoint that is not the controller's, and for another controller's path", async () => {
      for (const [path, token] of [
        [`/v1/controllers/acme/endpoints/${globexEndpointId}/deliveries`, acme.token],
        ['/v1/controllers/acme/endpoints/ep_nonexistent/deliveries', acme.token],
        [`/v1/controllers/globex/endpoints/${endpointId}/deliveries`, globex.token],
        [`/v1/controllers/acme/endpoints/${endpointId}/deliveries`, globex.token],
        ['/v1/controllers/acme/messages/m_list_1/webhook-deliveries', globex.token],
      ] as const) {
        const res = await h.call('GET', path, { token });
        expect(res.status, path).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
    });

    it('needs a token', async () => {
      const res = await h.call('GET', '/v1/controllers/acme/messages/m_list_1/webhook-deliveries', {
        token: null,
      });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('AUTH_REQUIRED');
    });
  });

  describe('resend', () => {
    let endpointId: string;

    beforeAll(async () => {
      endpointId = await endpointOf('acme', acme.token);
      await seed({
        webhookId: 'msg_resend_dead',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_resend_1',
        createdAt: ago(2 * HOUR),
        attempts: failedThrice,
        state: 'dead',
      });
      await seed({
        webhookId: 'msg_resend_pending',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_resend_2',
        createdAt: ago(HOUR),
        attempts: [{ httpStatus: 500, errorClass: 'http_5xx' }],
        state: 'pending',
      });
    });

    it('puts a dead delivery back in the queue now, with the same webhook-id and its attempt history', async () => {
      const before = Date.now();
      const res = await h.call('POST', '/v1/controllers/acme/webhook-deliveries/msg_resend_dead/resend', {
        token: acme.token,
      });
      expect(res).toMatchObject({ status: 202, body: { status: 'queued', commandId: expect.any(String) } });
      expect(await outcomeOf('acme', acme.token, res.body.commandId)).toMatchObject({
        commandId: res.body.commandId,
        kind: 'resend',
        target: 'msg_resend_dead',
        status: 'done',
        requeued: 1,
        reason: null,
      });
      const after = Date.now();

      const stored = await row('msg_resend_dead');
      expect(stored).toMatchObject({ state: 'pending', attempts: 3, retry_from: 3 });
      expect(stored.next_attempt_at.getTime()).toBeGreaterThanOrEqual(before - 1);
      expect(stored.next_attempt_at.getTime()).toBeLessThanOrEqual(after + 1);

      const [view] = (
        await h.call('GET', '/v1/controllers/acme/messages/m_resend_1/webhook-deliveries', {
          token: acme.token,
        })
      ).body.deliveries;
      expect(view).toMatchObject({
        webhookId: 'msg_resend_dead',
        state: 'pending',
        lastError: null,
        finishedAt: null,
      });
      expect(Date.parse(view.nextAttemptAt)).toBe(stored.next_attempt_at.getTime());
      expect(view.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
    });

    it('answers 409 while the delivery is still pending, and changes nothing', async () => {
      const before = await row('msg_resend_pending');
      const res = await h.call('POST', '/v1/controllers/acme/webhook-deliveries/msg_resend_pending/resend', {
        token: acme.token,
      });
      expect(res.status).toBe(409);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'WEBHOOK_DELIVERY_PENDING', status: 409 });
      expect(await row('msg_resend_pending')).toEqual(before);
    });

    it("answers 404 for an unknown delivery and for another controller's, which stays dead", async () => {
      await seed({
        webhookId: 'msg_resend_acme_only',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_resend_3',
        createdAt: ago(HOUR),
        attempts: failedThrice,
        state: 'dead',
      });
      for (const [path, token] of [
        ['/v1/controllers/acme/webhook-deliveries/msg_nope/resend', acme.token],
        ['/v1/controllers/globex/webhook-deliveries/msg_resend_acme_only/resend', globex.token],
        ['/v1/controllers/acme/webhook-deliveries/msg_resend_acme_only/resend', globex.token],
      ] as const) {
        const res = await h.call('POST', path, { token });
        expect(res.status, path).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
      expect((await row('msg_resend_acme_only')).state).toBe('dead');
    });

    it('requeues nothing when its processing event cannot be stored: the two commit together', async () => {
      await seed({
        webhookId: 'msg_resend_atomic',
        controllerId: 'acme',
        endpointId,
        messageId: 'm_resend_4',
        createdAt: ago(HOUR),
        attempts: failedThrice,
        state: 'dead',
      });
      // The outbox refuses writes, as a full disk or a lost connection mid-transaction would.
      await h.db.query(`CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
                          BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$`);
      await h.db.query(
        'CREATE TRIGGER refuse_outbox BEFORE INSERT ON control_outbox FOR EACH STATEMENT EXECUTE FUNCTION refuse_outbox()',
      );
      try {
        const res = await h.call('POST', '/v1/controllers/acme/webhook-deliveries/msg_resend_atomic/resend', {
          token: acme.token,
        });
        expect(res.status).toBe(500);
        // No command was stored, so none can reach the webhooks service.
        const { rows } = await h.db.query(
          "SELECT 1 FROM control_webhook_commands WHERE target = 'msg_resend_atomic'",
        );
        expect(rows).toHaveLength(0);
        expect((await row('msg_resend_atomic')).state).toBe('dead');
      } finally {
        await h.db.query('DROP TRIGGER refuse_outbox ON control_outbox');
        await h.db.query('DROP FUNCTION refuse_outbox()');
      }
      const retried = await h.call(
        'POST',
        '/v1/controllers/acme/webhook-deliveries/msg_resend_atomic/resend',
        {
          token: acme.token,
        },
      );
      expect(retried.status).toBe(202);
      expect(await outcomeOf('acme', acme.token, retried.body.commandId)).toMatchObject({ status: 'done' });
      expect((await row('msg_resend_atomic')).state).toBe('pending');
    });
  });

  describe('recover', () => {
    let endpointId: string;
    let otherEndpointId: string;
    let globexEndpointId: string;

    beforeAll(async () => {
      endpointId = await endpointOf('acme', acme.token);
      otherEndpointId = await endpointOf('acme', acme.token);
      globexEndpointId = await endpointOf('globex', globex.token);
      const deliveries: [string, string, string, number, DeliveryState][] = [
        ['msg_rec_dead_before', 'acme', endpointId, 3 * HOUR, 'dead'],
        ['msg_rec_dead_1', 'acme', endpointId, 50 * MINUTE, 'dead'],
        ['msg_rec_dead_2', 'acme', endpointId, 30 * MINUTE, 'dead'],
        ['msg_rec_delivered', 'acme', endpointId, 20 * MINUTE, 'delivered'],
        ['msg_rec_pending', 'acme', endpointId, 10 * MINUTE, 'pending'],
        ['msg_rec_other_endpoint', 'acme', otherEndpointId, 30 * MINUTE, 'dead'],
        ['msg_rec_globex', 'globex', globexEndpointId, 30 * MINUTE, 'dead'],
      ];
      for (const [webhookId, controllerId, endpoint, age, state] of deliveries) {
        await seed({
          webhookId,
          controllerId,
          endpointId: endpoint,
          messageId: `m_${webhookId}`,
          createdAt: ago(age),
          attempts: state === 'delivered' ? [{ httpStatus: 200 }] : failedThrice,
          state,
        });
      }
    });

    it("requeues the endpoint's dead deliveries created since T and brings forward those waiting for a retry", async () => {
      const since = ago(HOUR).toISOString();
      const res = await h.call('POST', `/v1/controllers/acme/endpoints/${endpointId}/recover`, {
        token: acme.token,
        body: { since },
      });
      expect(res).toMatchObject({ status: 202, body: { status: 'queued' } });
      // Two dead, one waiting an hour.
      expect(await outcomeOf('acme', acme.token, res.body.commandId)).toMatchObject({
        kind: 'recover',
        target: endpointId,
        status: 'done',
        requeued: 3,
      });
      const states = Object.fromEntries(
        await Promise.all(
          [
            'msg_rec_dead_before',
            'msg_rec_dead_1',
            'msg_rec_dead_2',
            'msg_rec_delivered',
            'msg_rec_pending',
            'msg_rec_other_endpoint',
            'msg_rec_globex',
          ].map(async (id) => [id, (await row(id)).state]),
        ),
      );
      expect(states).toEqual({
        msg_rec_dead_before: 'dead',
        msg_rec_dead_1: 'pending',
        msg_rec_dead_2: 'pending',
        msg_rec_delivered: 'delivered',
        msg_rec_pending: 'pending',
        msg_rec_other_endpoint: 'dead',
        msg_rec_globex: 'dead',
      });
      expect(await row('msg_rec_dead_1')).toMatchObject({ attempts: 3, retry_from: 3 });
      // The endpoint works again: what waited for its next retry slot goes now.
      expect((await row('msg_rec_pending')).next_attempt_at.getTime()).toBeLessThanOrEqual(Date.now());
      // Nothing dead or waiting is left in the window: a second recovery finds nothing.
      const again = await h.call('POST', `/v1/controllers/acme/endpoints/${endpointId}/recover`, {
        token: acme.token,
        body: { since },
      });
      expect(again.status).toBe(202);
      expect(await outcomeOf('acme', acme.token, again.body.commandId)).toMatchObject({
        status: 'done',
        requeued: 0,
      });
    });

    it("answers 404 for an endpoint that is not the controller's, and requeues nothing", async () => {
      for (const [path, token] of [
        [`/v1/controllers/acme/endpoints/${globexEndpointId}/recover`, acme.token],
        [`/v1/controllers/globex/endpoints/${endpointId}/recover`, globex.token],
        [`/v1/controllers/acme/endpoints/${otherEndpointId}/recover`, globex.token],
        ['/v1/controllers/acme/endpoints/ep_nonexistent/recover', acme.token],
      ] as const) {
        const res = await h.call('POST', path, { token, body: { since: ago(2 * HOUR).toISOString() } });
        expect(res.status, path).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
      expect((await row('msg_rec_globex')).state).toBe('dead');
      expect((await row('msg_rec_other_endpoint')).state).toBe('dead');
    });

    it.each([
      ['no body', undefined],
      ['no since', {}],
      ['a since that is not a time', { since: 'last tuesday' }],
      ['an unknown member', { since: new Date().toISOString(), state: 'dead' }],
    ])('answers 400 REQUEST_INVALID for %s', async (_label, body) => {
      const res = await h.call('POST', `/v1/controllers/acme/endpoints/${otherEndpointId}/recover`, {
        token: acme.token,
        ...(body === undefined ? {} : { body }),
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'REQUEST_INVALID', status: 400 });
      expect((await row('msg_rec_other_endpoint')).state).toBe('dead');
    });
  });

  describe('a disabled or deleted endpoint', () => {
    const resend = (webhookId: string) =>
      h.call('POST', `/v1/controllers/acme/webhook-deliveries/${webhookId}/resend`, { token: acme.token });
    const recover = (endpointId: string) =>
      h.call('POST', `/v1/controllers/acme/endpoints/${endpointId}/recover`, {
        token: acme.token,
        body: { since: ago(2 * HOUR).toISOString() },
      });
    const deadTo = async (webhookId: string, endpointId: string) =>
      seed({
        webhookId,
        controllerId: 'acme',
        endpointId,
        messageId: `m_${webhookId}`,
        createdAt: ago(HOUR),
        attempts: [{ httpStatus: 410, errorClass: 'gone' }],
        state: 'dead',
      });
    const revisionOf = async (endpointId: string): Promise<number> =>
      (await h.call('GET', `/v1/controllers/acme/endpoints/${endpointId}`, { token: acme.token })).body
        .revision;

    it('one the webhooks service disabled (410 Gone) is refused with the reason until the customer changes it', async () => {
      const endpointId = await endpointOf('acme', acme.token);
      await deadTo('msg_dis_gone', endpointId);
      // What the webhooks worker records when the endpoint answers 410, at its current revision.
      expect(
        await store.transitionHealth(
          endpointId,
          'acme',
          ['healthy', 'failing'],
          { state: 'disabled', disabledReason: 'gone', revision: await revisionOf(endpointId) },
          new Date(),
        ),
      ).toBeDefined();
      for (const res of [await resend('msg_dis_gone'), await recover(endpointId)]) {
        expect(res.status).toBe(409);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(res.body).toMatchObject({ code: 'WEBHOOK_ENDPOINT_DISABLED', endpointId, reason: 'gone' });
        expect(res.body.detail).toContain('410 Gone');
      }
      expect((await row('msg_dis_gone')).state).toBe('dead');
      // Any update is a new revision, which lifts the disable: now the resend is queued.
      const patched = await h.call('PATCH', `/v1/controllers/acme/endpoints/${endpointId}`, {
        token: acme.token,
        body: { url: 'https://hooks.example.test/acme-fixed' },
      });
      expect(patched.status).toBe(200);
      const resent = await resend('msg_dis_gone');
      expect(resent).toMatchObject({ status: 202, body: { status: 'queued' } });
      expect(await outcomeOf('acme', acme.token, resent.body.commandId)).toMatchObject({ status: 'done' });
      expect((await row('msg_dis_gone')).state).toBe('pending');
    });

    it('one the customer disabled or deleted is refused, and nothing is queued', async () => {
      const endpointId = await endpointOf('acme', acme.token);
      await deadTo('msg_dis_off', endpointId);
      const off = await h.call('PATCH', `/v1/controllers/acme/endpoints/${endpointId}`, {
        token: acme.token,
        body: { enabled: false },
      });
      expect(off.status).toBe(200);
      for (const res of [await resend('msg_dis_off'), await recover(endpointId)]) {
        expect(res).toMatchObject({
          status: 409,
          body: { code: 'WEBHOOK_ENDPOINT_DISABLED', endpointId, reason: 'disabled' },
        });
      }
      expect(
        (await h.call('DELETE', `/v1/controllers/acme/endpoints/${endpointId}`, { token: acme.token }))
          .status,
      ).toBe(204);
      expect(await resend('msg_dis_off')).toMatchObject({
        status: 409,
        body: { code: 'WEBHOOK_ENDPOINT_DISABLED', endpointId, reason: 'deleted' },
      });
      // The control plane no longer knows the endpoint: recovering it is a 404, as for any unknown one.
      expect((await recover(endpointId)).status).toBe(404);
      expect((await row('msg_dis_off')).state).toBe('dead');
    });
  });

  describe('audit', () => {
    it('records each resend and recovery as a processing event naming the token that asked, and nothing for refusals', async () => {
      const endpointId = await endpointOf('globex', globex.token);
      for (const [webhookId, age] of [
        ['msg_audit_recent', HOUR],
        ['msg_audit_old', 3 * HOUR],
      ] as const) {
        await seed({
          webhookId,
          controllerId: 'globex',
          endpointId,
          messageId: `m_${webhookId}`,
          createdAt: ago(age),
          attempts: failedThrice,
          state: 'dead',
        });
      }
      // One controller's events share a partition, so their order is the order they were emitted in.
      const globexWebhookEvents = async () =>
        (await processingEvents()).filter(
          (e) => e.controllerId === 'globex' && e.operation.startsWith('webhook.'),
        );
      const before = (await globexWebhookEvents()).length;

      const since = ago(2 * HOUR).toISOString();
      const recovered = await h.call('POST', `/v1/controllers/globex/endpoints/${endpointId}/recover`, {
        token: globex.token,
        body: { since },
      });
      expect(recovered.status).toBe(202);
      expect(await outcomeOf('globex', globex.token, recovered.body.commandId)).toMatchObject({
        requeued: 1,
      });
      // Refusals change nothing, so they are not recorded: one still pending, one of acme's path.
      const refused = await h.call(
        'POST',
        '/v1/controllers/globex/webhook-deliveries/msg_audit_recent/resend',
        {
          token: globex.token,
        },
      );
      expect(refused.status).toBe(409);
      const foreign = await h.call('POST', '/v1/controllers/acme/webhook-deliveries/msg_audit_old/resend', {
        token: globex.token,
      });
      expect(foreign.status).toBe(404);
      const resent = await h.call('POST', '/v1/controllers/globex/webhook-deliveries/msg_audit_old/resend', {
        token: globex.token,
      });
      expect(resent.status).toBe(202);

      const events = await globexWebhookEvents();
      expect(events).toHaveLength(before + 2);
      const [recover, resend] = events.slice(before);
      expect(recover).toMatchObject({
        operation: 'webhook.recover',
        controllerId: 'globex',
        actor: globex.tokenId,
        outcome: 'performed',
        service: 'control',
        region: 'us',
        dataCategories: ['system.operations'],
        reason: `endpoint ${endpointId}, since ${since}, command ${recovered.body.commandId}`,
      });
      expect(resend).toMatchObject({
        operation: 'webhook.resend',
        controllerId: 'globex',
        actor: globex.tokenId,
        outcome: 'performed',
        reason: `delivery msg_audit_old, command ${resent.body.commandId}`,
      });
    });
  });
});

describe('webhook recovery API without the webhooks service (WEBHOOKS_INTERNAL_URL unset)', () => {
  let h: ControlHarness;
  beforeAll(async () => {
    h = await startControl();
    expect(
      (await h.call('POST', '/v1/controllers', { body: { id: 'acme', name: 'Acme', region: 'us' } })).status,
    ).toBe(201);
    expect(
      (
        await h.call('POST', '/v1/controllers/acme/endpoints', {
          body: { url: 'https://hooks.example.test/a', eventTypes: ['message.delivered'] },
        })
      ).status,
    ).toBe(201);
  });
  afterAll(() => h.close());

  it('answers 503 WEBHOOK_RECOVERY_UNAVAILABLE on every recovery route', async () => {
    const endpointId = (await h.call('GET', '/v1/controllers/acme/endpoints')).body.items[0].id;
    for (const [method, path, body] of [
      ['GET', '/v1/controllers/acme/messages/m_1/webhook-deliveries', undefined],
      ['GET', `/v1/controllers/acme/endpoints/${endpointId}/deliveries`, undefined],
      ['POST', '/v1/controllers/acme/webhook-deliveries/msg_1/resend', undefined],
      ['POST', `/v1/controllers/acme/endpoints/${endpointId}/recover`, { since: new Date().toISOString() }],
      ['GET', '/v1/controllers/acme/webhook-commands/cmd_1', undefined],
    ] as const) {
      const res = await h.call(method, path, { body });
      expect(res.status, path).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'WEBHOOK_RECOVERY_UNAVAILABLE', status: 503 });
    }
  });
});

describe('webhook recovery API while the webhooks service does not answer', () => {
  let h: ControlHarness;
  let silent: Server;
  beforeAll(async () => {
    // Accepts connections and never answers: every call must end at its bound, as a 503.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    h = await startControl({ webhooksUrl: `http://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await h.close();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('answers 503 WEBHOOK_RECOVERY_UNAVAILABLE within its bound, and queues no command', async () => {
    expect(
      (await h.call('POST', '/v1/controllers', { body: { id: 'acme', name: 'Acme', region: 'us' } })).status,
    ).toBe(201);
    const started = Date.now();
    const res = await h.call('POST', '/v1/controllers/acme/webhook-deliveries/msg_1/resend');
    expect(res).toMatchObject({ status: 503, body: { code: 'WEBHOOK_RECOVERY_UNAVAILABLE' } });
    // The harness bounds each call at 3 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    expect(Date.now() - started).toBeLessThan(10_000);
    const { rows } = await h.db.query('SELECT 1 FROM control_webhook_commands');
    expect(rows).toHaveLength(0);
  });
});
