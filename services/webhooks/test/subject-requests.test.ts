import {
  type PrivacyAck,
  type PrivacyRequest,
  privacyExportContext,
  privacySubjectContext,
} from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import {
  type ControllerKeys,
  decryptField,
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  LocalKms,
  toControllerId,
} from '@massivesms/privacy';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgWebhooksSubjectStore } from '../src/adapters/pg-subject-requests.ts';
import { bodyContext } from '../src/application/intake.ts';
import { answerWebhooksSubjectRequest } from '../src/application/subject-requests.ts';
import { webhooksMigrations } from '../src/webhooks.ts';

const acme = toControllerId('acme');
const SUBJECT = '+14155550142';
const NEIGHBOUR = '+14155550199';

describe('the webhooks service answers data-subject requests for its own rows (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  let keys: ControllerKeys;
  const now = new Date('2026-12-04T12:00:00Z');
  let n = 0;
  const request = (type: PrivacyRequest['type']): PrivacyRequest => {
    const requestId = `dsr_${++n}`;
    return {
      requestId,
      controllerId: 'acme',
      region: 'us',
      type,
      subjectPseudonym: 'ps_subject',
      subject: encryptField(keys.dataKey, SUBJECT, {
        ...privacySubjectContext('acme', requestId),
        controllerId: acme,
      }),
      requestedAt: now.toISOString(),
    };
  };
  // One delivery per page: the search for the subject's messages must walk every page.
  const answer = (r: PrivacyRequest) =>
    answerWebhooksSubjectRequest(
      {
        cell: 'us',
        namespace: 't',
        keys: async () => keys,
        store: pgWebhooksSubjectStore(db),
        now: () => now,
        pageSize: 1,
      },
      r,
    );
  const ack = async () => {
    const { rows } = await db.query<{ topic: string; value: Buffer }>(
      'DELETE FROM webhooks_outbox RETURNING topic, value',
    );
    return JSON.parse(rows.find((r) => r.topic === 't.us.privacy.acks.v1')!.value.toString()) as PrivacyAck;
  };
  const deliver = async (webhookId: string, messageId: string, status: string, to?: string) => {
    const body = JSON.stringify({
      type: `message.${status}`,
      data: { messageId, status, ...(to ? { to } : {}) },
    });
    await db.query(
      `INSERT INTO webhook_deliveries (webhook_id, endpoint_id, controller_id, message_id, event_type, body, state,
         attempts, next_attempt_at, created_at)
       VALUES ($1, 'ep_1', 'acme', $2, $3, $4, 'delivered', 1, $5, $5)`,
      [
        webhookId,
        messageId,
        `message.${status}`,
        encryptField(keys.dataKey, body, bodyContext('acme', webhookId)),
        now,
      ],
    );
    await db.query(
      `INSERT INTO webhook_attempts (webhook_id, attempt, started_at, http_status, latency_ms) VALUES ($1, 1, $2, 200, 12)`,
      [webhookId, now],
    );
  };

  beforeAll(async () => {
    schema = await createTestSchema('webhooks-dsr');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, webhooksMigrations);
    const keyring = new Keyring({
      kms: new LocalKms(generateMasterKey()),
      store: new InMemoryControllerKeyStore(),
    });
    await keyring.create(acme);
    keys = await keyring.get(acme);
    // The subject's message: `accepted` names the number, `delivered` does not (found by message id).
    await deliver('msg_a', 's-1', 'accepted', SUBJECT);
    await deliver('msg_b', 's-1', 'delivered');
    await deliver('msg_c', 'n-1', 'accepted', NEIGHBOUR);
    await deliver('msg_d', 'n-1', 'delivered');
  });
  afterAll(async () => {
    await db?.close();
    await schema?.drop();
  });

  it('exports every delivery of the subject’s messages with decrypted bodies and attempts, none of the neighbour’s', async () => {
    const r = request('access');
    await answer(r);
    const answered = await ack();
    const part = JSON.parse(
      decryptField(keys.dataKey, answered.export!, {
        ...privacyExportContext('acme', r.requestId, 'webhooks'),
        controllerId: acme,
      }),
    );
    expect(part.deliveries.map((d: { webhookId: string }) => d.webhookId).sort()).toEqual(['msg_a', 'msg_b']);
    expect(part.deliveries.find((d: { webhookId: string }) => d.webhookId === 'msg_a').body.data.to).toBe(
      SUBJECT,
    );
    expect(part.deliveries[0].attempts).toEqual([expect.objectContaining({ attempt: 1, httpStatus: 200 })]);
    expect(JSON.stringify(part)).not.toContain(NEIGHBOUR);
  });

  it('erases the subject’s deliveries and attempts and leaves the neighbour’s', async () => {
    await answer(request('erasure'));
    expect((await ack()).erased).toEqual({ webhook_deliveries: 2, webhook_attempts: 2 });
    const { rows } = await db.query('SELECT webhook_id FROM webhook_deliveries ORDER BY webhook_id');
    expect(rows.map((r) => r.webhook_id)).toEqual(['msg_c', 'msg_d']);
    const { rows: attempts } = await db.query('SELECT webhook_id FROM webhook_attempts ORDER BY webhook_id');
    expect(attempts.map((r) => r.webhook_id)).toEqual(['msg_c', 'msg_d']);
  });

  it('acknowledges restriction and objection without touching deliveries (the router and dispatcher stop sends)', async () => {
    await answer(request('objection'));
    expect((await ack()).outcome).toBe('done');
  });
});
