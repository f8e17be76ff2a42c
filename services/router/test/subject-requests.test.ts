import {
  decodeJsonOrThrow,
  encodeJson,
  type PrivacyAck,
  privacyAckSchema,
  privacyExportContext,
  privacyRequestSchema,
  privacySubjectContext,
  type SubjectPrivacyRequest,
  statusEventSchema,
} from '@massivesms/contracts';
import type { ReaderHandle } from '@massivesms/messaging';
import { decryptField, encryptField, toControllerId } from '@massivesms/privacy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, type RouterHarness, request, startHarness } from './harness.ts';

const SUBJECT = '+4915112345678';

describe('router: data-subject requests (real Kafka and PostgreSQL)', () => {
  let h: RouterHarness;
  let reader: ReaderHandle;
  const acks: PrivacyAck[] = [];
  let n = 0;

  /** Publishes a request as the control plane does, and waits for the router's answer. */
  const file = async (
    type: SubjectPrivacyRequest['type'],
  ): Promise<{ request: SubjectPrivacyRequest; ack: PrivacyAck }> => {
    const keys = await h.keys('acme');
    const requestId = `dsr_${++n}`;
    const command: SubjectPrivacyRequest = {
      requestId,
      controllerId: 'acme',
      region: 'us',
      type,
      subjectPseudonym: await h.pseudonym('acme', SUBJECT),
      subject: encryptField(keys.dataKey, SUBJECT, {
        ...privacySubjectContext('acme', requestId),
        controllerId: toControllerId('acme'),
      }),
      requestedAt: new Date().toISOString(),
    };
    await h.bus.producer().send([
      {
        topic: h.topic('privacy.requests.v1'),
        key: `acme:${command.subjectPseudonym}`,
        value: encodeJson(privacyRequestSchema, command),
      },
    ]);
    let ack: PrivacyAck | undefined;
    await eventually(20_000, () => {
      ack = acks.find((a) => a.requestId === requestId);
      expect(ack).toBeDefined();
    });
    return { request: command, ack: ack! };
  };

  beforeAll(async () => {
    h = await startHarness('us');
    await h.publishController({ id: 'acme' });
    reader = await h.bus.readFromStart({
      topics: [h.topic('privacy.acks.v1')],
      onRecords: (records) => {
        for (const r of records) acks.push(decodeJsonOrThrow(privacyAckSchema, r.value));
      },
    });
    await h.startRouter();
  }, 60_000);
  afterAll(async () => {
    await reader?.stop();
    await h?.close();
  });

  it('suppresses a restricted subject’s new message with SMS_SUPPRESSED_RESTRICTION, learnt from the request topic alone', async () => {
    const { ack } = await file('restriction');
    expect(ack).toMatchObject({ service: 'router', type: 'restriction', outcome: 'done' });
    await h.send([request({ messageId: 'restricted-1', to: SUBJECT })]);
    await eventually(20_000, () =>
      expect(
        h
          .read('sms.status.v1')
          .map((r) => statusEventSchema.parse(json(r)))
          .filter((s) => s.messageId === 'restricted-1'),
      ).toEqual([expect.objectContaining({ status: 'suppressed', errorCode: 'SMS_SUPPRESSED_RESTRICTION' })]),
    );
    expect(h.read('sms.dispatch.v1').map((r) => json<{ messageId: string }>(r).messageId)).not.toContain(
      'restricted-1',
    );
  });

  it('exports the subject’s suppressions and keeps them through an erasure (by pseudonym only)', async () => {
    await file('objection');
    const { request: access, ack } = await file('access');
    const keys = await h.keys('acme');
    const part = JSON.parse(
      decryptField(keys.dataKey, ack.export!, {
        ...privacyExportContext('acme', access.requestId, 'router'),
        controllerId: toControllerId('acme'),
      }),
    );
    expect(part.suppressions.map((s: { kind: string; source: string }) => `${s.kind}:${s.source}`)).toEqual([
      'objection:dsr',
      'restriction:dsr',
    ]);
    const { ack: erased } = await file('erasure');
    expect(erased.erased).toEqual({});
    expect(erased.retained?.join(' ')).toContain('router_suppressions');
    const { rows } = await h.db.query(
      'SELECT kind FROM router_suppressions WHERE pseudonym = $1 AND active',
      [access.subjectPseudonym],
    );
    expect(rows).toHaveLength(2);
    // The processing events were published with the acknowledgements, but the harness's reader of the
    // audit topic may not have caught up with the last one yet.
    const dsrEvents = () =>
      h
        .read('audit.processing.v1')
        .map((r) => json<{ operation: string; subjectPseudonym?: string }>(r))
        .filter((e) => e.operation.startsWith('dsr.'));
    await eventually(10_000, () =>
      expect(dsrEvents().map((e) => e.operation)).toEqual(
        expect.arrayContaining(['dsr.restriction', 'dsr.objection', 'dsr.access', 'dsr.erasure']),
      ),
    );
    const events = dsrEvents();
    expect(JSON.stringify(events)).not.toContain(SUBJECT.slice(3));
  });
});
