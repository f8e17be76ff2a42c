import {
  type PrivacyAck,
  type PrivacyRequest,
  privacyExportContext,
  privacySubjectContext,
  type StatusEvent,
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
import { PgDispatchStore } from '../src/adapters/pg-dispatch-store.ts';
import { pgDispatcherSubjectRows } from '../src/adapters/pg-subject-requests.ts';
import { answerDispatcherSubjectRequest } from '../src/application/subject-requests.ts';
import { dispatcherMigrations } from '../src/dispatcher.ts';

const acme = toControllerId('acme');
const claim = (messageId: string, recipientPseudonym: string) => ({
  controllerId: 'acme',
  messageId,
  campaignId: 'winter',
  carrier: 'telnyx' as const,
  recipientPseudonym,
  instruction: `acme-sms@1#${'a'.repeat(64)}`,
});

describe('the dispatcher answers data-subject requests for its own rows (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  let keys: ControllerKeys;
  const now = new Date('2026-12-04T12:00:00Z');
  let n = 0;
  const request = (type: PrivacyRequest['type'], region: 'us' | 'eu' = 'us'): PrivacyRequest => {
    const requestId = `dsr_${++n}`;
    return {
      requestId,
      controllerId: 'acme',
      region,
      type,
      subjectPseudonym: 'ps_subject',
      subject: encryptField(keys.dataKey, '+14155550142', {
        ...privacySubjectContext('acme', requestId),
        controllerId: acme,
      }),
      requestedAt: now.toISOString(),
    };
  };
  const answer = (r: PrivacyRequest) =>
    answerDispatcherSubjectRequest(
      {
        cell: 'us',
        namespace: 't',
        keys: async () => keys,
        store: pgDispatcherSubjectRows(db),
        now: () => now,
      },
      r,
    );
  /** Takes what the answer stored in the outbox (no relay runs here). */
  const outbox = async () => {
    const { rows } = await db.query<{ topic: string; key: string; value: Buffer }>(
      'DELETE FROM dispatcher_outbox RETURNING topic, key, value',
    );
    return rows.map((r) => ({ topic: r.topic, key: r.key, value: JSON.parse(r.value.toString()) }));
  };
  const ackOf = (records: Awaited<ReturnType<typeof outbox>>) =>
    records.find((r) => r.topic === 't.us.privacy.acks.v1')!.value as PrivacyAck;

  beforeAll(async () => {
    schema = await createTestSchema('dispatcher-dsr');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, dispatcherMigrations);
    const keyring = new Keyring({
      kms: new LocalKms(generateMasterKey()),
      store: new InMemoryControllerKeyStore(),
    });
    await keyring.create(acme);
    keys = await keyring.get(acme);
    const store = new PgDispatchStore(db);
    await store.claim([claim('s-1', 'ps_subject'), claim('n-1', 'ps_neighbour')], now);
    // Held messages: one never claimed (quiet hours), one of the neighbour.
    await db.query(
      `INSERT INTO dispatcher_scheduled (controller_id, message_id, send_after, record) VALUES
         ('acme', 's-held', $1, '{"recipientPseudonym": "ps_subject", "campaignId": "winter"}'),
         ('acme', 'n-held', $1, '{"recipientPseudonym": "ps_neighbour", "campaignId": "winter"}')`,
      [new Date(now.getTime() + 3_600_000)],
    );
    await store.applySuppressions([
      {
        controllerId: 'acme',
        subjectPseudonym: 'ps_subject',
        kind: 'opt_out',
        active: true,
        occurredAt: now.toISOString(),
      },
    ]);
  });
  afterAll(async () => {
    await db?.close();
    await schema?.drop();
  });

  it('exports exactly the subject’s sends, held messages and suppressions, sealed under the controller key', async () => {
    const r = request('access');
    await answer(r);
    const records = await outbox();
    const ack = ackOf(records);
    expect(ack).toMatchObject({ requestId: r.requestId, service: 'dispatcher', outcome: 'done' });
    const part = JSON.parse(
      decryptField(keys.dataKey, ack.export!, {
        ...privacyExportContext('acme', r.requestId, 'dispatcher'),
        controllerId: acme,
      }),
    );
    expect(part.messages.map((m: { messageId: string }) => m.messageId)).toEqual(['s-1']);
    expect(part.heldMessages.map((m: { messageId: string }) => m.messageId)).toEqual(['s-held']);
    expect(part.suppressions).toEqual([expect.objectContaining({ kind: 'opt_out', active: true })]);
    const audit = records.find((x) => x.topic === 't.us.audit.processing.v1')!.value;
    expect(audit).toMatchObject({
      service: 'dispatcher',
      operation: 'dsr.access',
      subjectPseudonym: 'ps_subject',
    });
  });

  it('restricts: the suppression is in force for the sends still to come', async () => {
    await answer(request('restriction'));
    expect(ackOf(await outbox()).outcome).toBe('done');
    const active = await new PgDispatchStore(db).activeSuppressions([
      { controllerId: 'acme', pseudonym: 'ps_subject' },
    ]);
    expect(active.size).toBe(1);
    const { rows } = await db.query(
      `SELECT kind FROM dispatcher_suppressions WHERE pseudonym = 'ps_subject' ORDER BY kind`,
    );
    expect(rows.map((x) => x.kind)).toEqual(['opt_out', 'restriction']);
  });

  it('erases: held messages end suppressed (SMS_SUBJECT_ERASED), the ledger keeps no trace of the subject, suppressions stay', async () => {
    await answer(request('erasure'));
    const records = await outbox();
    const status = records.find((x) => x.topic === 't.us.sms.status.v1')!.value as StatusEvent;
    expect(status).toMatchObject({
      messageId: 's-held',
      status: 'suppressed',
      statusSeq: 1,
      errorCode: 'SMS_SUBJECT_ERASED',
    });
    expect(ackOf(records).erased).toEqual({ dispatcher_scheduled: 1, dispatcher_messages: 1 });
    const { rows: ledger } = await db.query<{ message_id: string; recipient_pseudonym: string }>(
      'SELECT message_id, recipient_pseudonym FROM dispatcher_messages ORDER BY message_id',
    );
    expect(ledger).toEqual([
      { message_id: 'n-1', recipient_pseudonym: 'ps_neighbour' },
      { message_id: 's-1', recipient_pseudonym: 'ps_erased' },
    ]);
    const { rows: held } = await db.query('SELECT message_id FROM dispatcher_scheduled');
    expect(held.map((x) => x.message_id)).toEqual(['n-held']);
    const { rows: kept } = await db.query(
      `SELECT kind FROM dispatcher_suppressions WHERE pseudonym = 'ps_subject'`,
    );
    expect(kept).toHaveLength(2);
    // A second erasure (a redelivered command) finds nothing more and says so.
    await answer({ ...request('erasure') });
    expect(ackOf(await outbox()).erased).toEqual({ dispatcher_scheduled: 0, dispatcher_messages: 0 });
  });

  it('refuses a request of another region with a failed acknowledgement', async () => {
    await answer(request('erasure', 'eu'));
    expect(ackOf(await outbox())).toMatchObject({ outcome: 'failed', reason: 'wrong region' });
  });
});
