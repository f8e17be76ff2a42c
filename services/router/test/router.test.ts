import {
  consumerGroup,
  dispatchRecordSchema,
  matchesRejectionDigest,
  rejectionSchema,
  statusEventSchema,
} from '@massivesms/contracts';
import { decryptField, toControllerId } from '@massivesms/privacy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, type RouterHarness, request, startHarness } from './harness.ts';

const MOBILE = '+447400123456'; // a valid UK mobile number (canary: must never appear outside encrypted fields)
const MOBILE_DIGITS = '7400123456';

describe('router (real Kafka and PostgreSQL)', () => {
  let h: RouterHarness;

  const rejectionFor = (messageId: string) =>
    h
      .read('sms.rejected.v1')
      .map((r) => rejectionSchema.parse(json(r)))
      .find((r) => r.messageId === messageId);
  const statusesFor = (messageId: string) =>
    h
      .read('sms.status.v1')
      .map((r) => statusEventSchema.parse(json(r)))
      .filter((s) => s.messageId === messageId);
  const dispatchesFor = (messageId: string) =>
    h.read('sms.dispatch.v1').filter((r) => dispatchRecordSchema.parse(json(r)).messageId === messageId);
  const auditFor = (messageId: string) =>
    h
      .read('audit.processing.v1')
      .map((r) => json<{ messageId?: string; outcome: string; reason?: string; operation: string }>(r))
      .filter((e) => e.messageId === messageId);

  beforeAll(async () => {
    h = await startHarness('us');
    await h.publishController({ id: 'acme' });
    await h.publishController({ id: 'quiet-co', instruction: null });
    await h.publishController({ id: 'stray-eu', region: 'eu' });
    await h.publishController({ id: 'ended-co', terminatedAt: new Date().toISOString() });
    await h.publishController({
      id: 'night-reject',
      instruction: {
        purposes: ['marketing.communications.sms'],
        subprocessors: ['telnyx'],
        retention: { contentDays: 1, metadataDays: 1 },
        storeContentAfterDispatch: false,
        quietHours: { start: '00:00', end: '23:59', timeZone: 'UTC', action: 'reject' },
      },
    });
    await h.publishController({
      id: 'night-hold',
      instruction: {
        purposes: ['marketing.communications.sms'],
        subprocessors: ['telnyx'],
        retention: { contentDays: 1, metadataDays: 1 },
        storeContentAfterDispatch: false,
        quietHours: { start: '00:00', end: '23:59', timeZone: 'UTC', action: 'hold' },
      },
    });
    await h.startRouter(() => new Date('2026-11-26T12:00:00Z'));
  });
  afterAll(() => h.close());

  it('routes a valid request: encrypted dispatch record keyed by pseudonym, tagged headers, accepted status, audit event', async () => {
    const req = request({ messageId: 'ok-1', to: '+44 7400 123-456' });
    await h.send([req], { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    await eventually(20_000, () => expect(dispatchesFor('ok-1')).toHaveLength(1));
    const [record] = dispatchesFor('ok-1');
    const dispatch = dispatchRecordSchema.parse(json(record!));
    const pseudonym = await h.pseudonym('acme', MOBILE);
    expect(record!.key).toBe(pseudonym);
    expect(dispatch).toMatchObject({
      recipientPseudonym: pseudonym,
      encoding: 'GSM-7',
      segments: 1,
      senderKind: 'alphanumeric',
      region: 'us',
      recipientCountry: 'GB',
    });
    expect(record!.headers).toMatchObject({
      region: 'us',
      controller: 'acme',
      instruction: dispatch.instruction,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      schema: 'sms.dispatch.v1',
    });
    const keys = await h.keys('acme');
    const ctx = (field: string) => ({ controllerId: toControllerId('acme'), recordId: 'ok-1', field });
    expect(decryptField(keys.dataKey, dispatch.recipient, ctx('to'))).toBe(MOBILE);
    expect(decryptField(keys.dataKey, dispatch.body, ctx('body'))).toBe(req.body);
    await eventually(5_000, () => expect(statusesFor('ok-1').map((s) => s.status)).toEqual(['accepted']));
    await eventually(5_000, () =>
      expect(auditFor('ok-1')).toEqual([
        expect.objectContaining({ operation: 'route', outcome: 'performed' }),
      ]),
    );
  });

  it.each([
    ['undecodable bytes', Buffer.from([0xff, 0xfe, 0x00]), 'CONTRACT_UNDECODABLE', undefined],
    [
      'a record without a body',
      JSON.stringify({ ...request({ messageId: 'bad-json' }), body: undefined }),
      'CONTRACT_INVALID',
      'body',
    ],
  ])(
    'rejects %s with a stable code, its source and a digest of its bytes, never the bytes',
    async (_label, value, code, field) => {
      const before = h.read('sms.rejected.v1').length;
      await h.send([value]);
      await eventually(20_000, () => expect(h.read('sms.rejected.v1').length).toBeGreaterThan(before));
      const rejection = rejectionSchema.parse(json(h.read('sms.rejected.v1').at(-1)!));
      expect(rejection.code).toBe(code);
      expect(rejection.field).toBe(field);
      expect(rejection.sealed).toBeUndefined(); // no controller to seal it for
      const source = h
        .read('sms.requested.v1')
        .find(
          (r) => r.partition === rejection.source.partition && String(r.offset) === rejection.source.offset,
        )!;
      expect(source.value).toEqual(Buffer.from(value));
      expect(matchesRejectionDigest(source.value!, rejection.digest!)).toBe(true);
      expect(matchesRejectionDigest(Buffer.from('another record'), rejection.digest!)).toBe(false);
      expect(JSON.stringify(rejection)).not.toContain(Buffer.from(value).toString('base64'));
    },
  );

  it('seals a rejected request under its controller key, and keeps only a digest of one from another region', async () => {
    const sealedReq = request({
      messageId: 'rej-sealed',
      from: 'THIS-IS-TOO-LONG!',
      body: 'canary body Zq7',
    });
    const foreignReq = request({ messageId: 'rej-foreign', body: 'canary body Zq8' });
    await h.send([sealedReq]);
    await h.send([foreignReq], { region: 'eu' });
    await eventually(20_000, () => expect(rejectionFor('rej-foreign')).toBeDefined());
    await eventually(20_000, () => expect(rejectionFor('rej-sealed')).toBeDefined());
    const sealed = rejectionFor('rej-sealed')!;
    const keys = await h.keys('acme');
    const opened = decryptField(keys.dataKey, sealed.sealed!, {
      controllerId: toControllerId('acme'),
      recordId: 'rej-sealed',
      field: 'rejected',
    });
    expect(JSON.parse(opened)).toEqual(sealedReq);
    const foreign = rejectionFor('rej-foreign')!;
    expect(foreign).toMatchObject({ code: 'SMS_WRONG_REGION', messageId: 'rej-foreign' });
    expect(foreign.sealed).toBeUndefined();
    expect(foreign.digest).toEqual(expect.objectContaining({ alg: 'hmac-sha256' }));
    for (const r of h.read('sms.rejected.v1')) {
      const text = r.value!.toString();
      for (const secret of [MOBILE_DIGITS, 'canary body', Buffer.from('canary body').toString('base64')]) {
        expect(text).not.toContain(secret);
      }
    }
  });

  it.each([
    ['an unknown controller', { controllerId: 'nobody' }, 'SMS_UNKNOWN_CONTROLLER', false],
    ['a controller without an instruction', { controllerId: 'quiet-co' }, 'SMS_NO_INSTRUCTION', true],
    ['a terminated controller', { controllerId: 'ended-co' }, 'SMS_CONTROLLER_TERMINATED', true],
    [
      'a purpose the instruction does not allow',
      { purpose: 'essential.service.authentication.sms' },
      'SMS_PURPOSE_NOT_ALLOWED',
      true,
    ],
    ['a controller homed in another region', { controllerId: 'stray-eu' }, 'SMS_WRONG_REGION', true],
    ['an invalid number', { to: '+1234' }, 'SMS_INVALID_RECIPIENT', true],
    ['a landline', { to: '+442079460000' }, 'SMS_LANDLINE_RECIPIENT', true],
    ['an invalid sender', { from: 'THIS-IS-TOO-LONG!' }, 'SMS_INVALID_SENDER', true],
    ['too many segments', { body: '€'.repeat(900) }, 'SMS_TOO_MANY_SEGMENTS', true],
    ['quiet hours that say reject', { controllerId: 'night-reject' }, 'SMS_QUIET_HOURS', true],
  ])(
    'rejects %s, names the rule in the audit trail, and never dispatches',
    async (_label, overrides, code, controllerSeesIt) => {
      const req = request({ messageId: `rej-${code}`, ...overrides });
      await h.send([req]);
      await eventually(20_000, () => expect(rejectionFor(req.messageId)?.code).toBe(code));
      await eventually(5_000, () =>
        expect(auditFor(req.messageId)).toEqual([
          expect.objectContaining({ outcome: 'denied', reason: code }),
        ]),
      );
      if (controllerSeesIt) {
        await eventually(5_000, () =>
          expect(statusesFor(req.messageId)).toEqual([
            expect.objectContaining({ status: 'rejected', errorCode: code, statusSeq: 0 }),
          ]),
        );
      } else {
        expect(statusesFor(req.messageId)).toEqual([]);
      }
      expect(dispatchesFor(req.messageId)).toEqual([]);
    },
  );

  it('refuses a record tagged with another region than the cell', async () => {
    const req = request({ messageId: 'misrouted' });
    await h.send([req], { region: 'eu' });
    await eventually(20_000, () => expect(rejectionFor('misrouted')?.code).toBe('SMS_WRONG_REGION'));
    expect(dispatchesFor('misrouted')).toEqual([]);
  });

  it('expires a request past its validUntil', async () => {
    const req = request({ messageId: 'late', validUntil: '2026-11-26T11:59:59Z' });
    await h.send([req]);
    await eventually(20_000, () => expect(statusesFor('late').map((s) => s.status)).toEqual(['expired']));
    expect(dispatchesFor('late')).toEqual([]);
  });

  it('holds a message for quiet hours when the instruction says hold', async () => {
    await h.send([request({ messageId: 'held', controllerId: 'night-hold' })]);
    await eventually(20_000, () => expect(dispatchesFor('held')).toHaveLength(1));
    expect(dispatchRecordSchema.parse(json(dispatchesFor('held')[0]!)).sendAfter).toBe(
      '2026-11-26T23:59:00.000Z',
    );
  });

  it('suppresses a recipient who opted out, and dispatches again after START', async () => {
    const pseudonym = await h.pseudonym('acme', '+4915112345678');
    await h.suppress({ controllerId: 'acme', subjectPseudonym: pseudonym, kind: 'opt_out', active: true });
    await eventually(20_000, async () => {
      const { rows } = await h.db.query('SELECT 1 FROM router_suppressions WHERE pseudonym = $1 AND active', [
        pseudonym,
      ]);
      expect(rows).toHaveLength(1);
    });
    await h.send([request({ messageId: 'stopped', to: '+4915112345678' })]);
    await eventually(20_000, () =>
      expect(statusesFor('stopped')).toEqual([
        expect.objectContaining({ status: 'suppressed', errorCode: 'SMS_SUPPRESSED_OPT_OUT' }),
      ]),
    );
    expect(dispatchesFor('stopped')).toEqual([]);

    await h.suppress({ controllerId: 'acme', subjectPseudonym: pseudonym, kind: 'opt_out', active: false });
    await eventually(20_000, async () => {
      const { rows } = await h.db.query(
        'SELECT 1 FROM router_suppressions WHERE pseudonym = $1 AND NOT active',
        [pseudonym],
      );
      expect(rows).toHaveLength(1);
    });
    await h.send([request({ messageId: 'restarted', to: '+4915112345678' })]);
    await eventually(20_000, () => expect(dispatchesFor('restarted')).toHaveLength(1));
  });

  it('a restriction for one controller does not suppress the same person for another controller', async () => {
    await h.publishController({ id: 'other' });
    const theirs = await h.pseudonym('other', MOBILE);
    await h.suppress({ controllerId: 'other', subjectPseudonym: theirs, kind: 'restriction', active: true });
    await eventually(20_000, async () => {
      const { rows } = await h.db.query('SELECT 1 FROM router_suppressions WHERE pseudonym = $1', [theirs]);
      expect(rows).toHaveLength(1);
    });
    await h.send([request({ messageId: 'mine' }), request({ messageId: 'theirs', controllerId: 'other' })]);
    await eventually(20_000, () => {
      expect(dispatchesFor('mine')).toHaveLength(1);
      expect(statusesFor('theirs').map((s) => s.status)).toEqual(['suppressed']);
    });
  });

  it('produces nothing new for a messageId already seen for that controller', async () => {
    const req = request({ messageId: 'twice' });
    await h.send([req, req]);
    await h.send([{ ...req, body: 'changed body, same id' }]);
    await eventually(20_000, () => expect(dispatchesFor('twice')).toHaveLength(1));
    await h.send([request({ messageId: 'after-twice' })]);
    await eventually(20_000, () => expect(dispatchesFor('after-twice')).toHaveLength(1));
    await eventually(5_000, () => expect(statusesFor('twice')).toHaveLength(1));
    expect(dispatchesFor('twice')).toHaveLength(1);
  });

  it('keeps phone numbers out of every Kafka key and every plaintext field it writes', () => {
    for (const name of [
      'sms.dispatch.v1',
      'sms.status.v1',
      'audit.processing.v1',
      'sms.rejected.v1',
    ] as const) {
      for (const record of h.read(name)) {
        expect(record.key ?? '').not.toContain(MOBILE_DIGITS);
        expect(record.value!.toString()).not.toContain(MOBILE_DIGITS);
        expect(JSON.stringify(record.headers)).not.toContain(MOBILE_DIGITS);
      }
    }
  });

  it('replaying the same batch from the start of the topic produces no duplicate output', async () => {
    await h.router!.stop();
    const counts = () =>
      ['sms.dispatch.v1', 'sms.status.v1', 'sms.rejected.v1', 'audit.processing.v1'].map(
        (t) => h.read(t as 'sms.status.v1').length,
      );
    // Let the output readers catch up with everything already produced before taking the baseline.
    let before = counts();
    for (let stableSince = Date.now(); Date.now() - stableSince < 1_000; ) {
      await new Promise((r) => setTimeout(r, 100));
      const now = counts();
      if (now.join() !== before.join()) {
        before = now;
        stableSince = Date.now();
      }
    }
    const admin = h.bus.kafka.admin();
    await admin.connect();
    await admin.resetOffsets({
      groupId: consumerGroup('router', 'us', h.topics.namespace),
      topic: h.topic('sms.requested.v1'),
      earliest: true,
    });
    await admin.disconnect();
    const replayed = h.outcomes.length;
    await h.startRouter(() => new Date('2026-11-26T12:00:00Z'));
    await h.send([request({ messageId: 'sentinel' })]);
    await eventually(30_000, () => expect(dispatchesFor('sentinel')).toHaveLength(1));
    // The partitions replay independently of the sentinel's: wait for the whole topic to come back.
    const duplicates = () => h.outcomes.slice(replayed).reduce((n, o) => n + o.duplicates, 0);
    await eventually(30_000, () => expect(duplicates()).toBeGreaterThan(10));
    // Exactly the sentinel's outputs are new: one dispatch, one status, one audit event, no rejection.
    const delta = () => counts().map((n, i) => n - before[i]!);
    await eventually(10_000, () => expect(delta()).toEqual([1, 1, 0, 1]));
    await new Promise((r) => setTimeout(r, 500));
    expect(delta()).toEqual([1, 1, 0, 1]);
  });
});
