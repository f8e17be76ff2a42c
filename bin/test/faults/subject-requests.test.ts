// Data-subject requests (DPA §8, issue 13) through the processes `massivesms` starts, on real Kafka
// and PostgreSQL: the control plane files each request and publishes it; router, dispatcher and
// webhooks answer for their own rows; the request completes once every one of them has.
import { type ProcessingEvent, processingEventSchema } from '@massivesms/contracts';
import { eventually, webhookStatusChange } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  type ControlReply,
  controlClient,
  type FaultPipeline,
  onboardController,
  SENDER,
  startFaultPipeline,
} from './pipeline.ts';

const CONTROLLER = 'dsrco';
const SUBJECT = '+14155550142';
const NEIGHBOUR = '+14155550199';

describe('data-subject requests across the services', () => {
  let p: FaultPipeline;
  let token: string;

  const api = controlClient(() => p.controlUrl);
  /** Files a request with the controller's own token and waits (bounded) until it settles. */
  const fileAndAwait = async (type: string, phoneNumber: string): Promise<ControlReply['body']> => {
    const filed = await api(
      'POST',
      `/v1/controllers/${CONTROLLER}/subject-requests`,
      { type, phoneNumber },
      token,
    );
    expect(filed.status).toBe(202);
    expect(filed.body.status).toBe(type === 'rectification' ? 'completed' : 'pending');
    let settled: ControlReply['body'];
    await eventually(30_000, async () => {
      const read = await api(
        'GET',
        `/v1/controllers/${CONTROLLER}/subject-requests/${filed.body.id}`,
        undefined,
        token,
      );
      expect(read.status).toBe(200);
      expect(read.body.status).not.toBe('pending');
      settled = read.body;
    });
    return settled;
  };
  /** Webhooks the receiver acknowledged for one message, parsed. */
  const webhooksOf = (messageId: string) =>
    p.receiver.received
      .filter((r) => r.status >= 200 && r.status < 300)
      .map((r) => ({ change: webhookStatusChange(r.body), body: JSON.parse(r.body) }))
      .filter((w) => w.change?.messageId === messageId);
  const awaitTerminal = (messageId: string, type: string) =>
    eventually(30_000, () => {
      expect(webhooksOf(messageId).map((w) => w.change?.type)).toContain(type);
    });
  const send = (messageId: string, to: string) =>
    p.produceRequests([
      { messageId, controllerId: CONTROLLER, to, body: `Your code for ${messageId} is 4711.` },
    ]);
  /** Every row of every table of the test schema, as text. */
  const dump = async () => {
    const { rows: tables } = await p.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`,
      [p.schema.schema],
    );
    const out: string[] = [];
    for (const { table_name } of tables) {
      const { rows } = await p.db.query<{ row: string }>(`SELECT t::text AS row FROM "${table_name}" t`);
      out.push(...rows.map((r) => `${table_name}: ${r.row}`));
    }
    return out;
  };

  beforeAll(async () => {
    p = await startFaultPipeline({ also: ['control'] });
    ({ token } = await onboardController(p, api, CONTROLLER, [
      'message.accepted',
      'message.delivered',
      'message.suppressed',
      'message.failed',
    ]));
  }, 150_000);
  afterAll(async () => {
    await p?.close();
  });

  it('exports exactly the subject’s records, restricts a neighbour, erases the subject and still blocks them', {
    timeout: 150_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    for (const [id, to] of [
      ['s-1', SUBJECT],
      ['s-2', SUBJECT],
      ['n-1', NEIGHBOUR],
      ['n-2', NEIGHBOUR],
    ] as const)
      await send(id, to);
    for (const id of ['s-1', 's-2', 'n-1', 'n-2']) await awaitTerminal(id, 'message.delivered');
    // The subject answers STOP: an opt-out for this controller, by pseudonym.
    const stop = await p.telnyx.sendInbound({
      to: SENDER,
      from: SUBJECT,
      text: 'STOP',
      url: `${p.dispatcherUrl}/inbound/telnyx`,
    });
    expect(stop.attempts.at(-1)?.status).toBe(200);

    // Access: every service's part, decrypted; the subject's records and none of the neighbour's.
    let access: ControlReply['body'];
    await eventually(30_000, async () => {
      access = await fileAndAwait('access', SUBJECT);
      expect(access.export.router.suppressions).toEqual([
        expect.objectContaining({ kind: 'opt_out', active: true }),
      ]);
    });
    expect(access.status).toBe('completed');
    expect(access.acknowledged.map((a: { service: string }) => a.service).sort()).toEqual([
      'dispatcher',
      'router',
      'webhooks',
    ]);
    const exported = access.export;
    expect(exported.subject.phoneNumber).toBe(SUBJECT);
    expect(exported.dispatcher.messages.map((m: { messageId: string }) => m.messageId)).toEqual([
      's-1',
      's-2',
    ]);
    expect(exported.dispatcher.messages.every((m: { status: string }) => m.status === 'delivered')).toBe(
      true,
    );
    expect(exported.dispatcher.suppressions).toEqual([
      expect.objectContaining({ kind: 'opt_out', active: true }),
    ]);
    const delivered = exported.webhooks.deliveries as {
      messageId: string;
      body: { data: { to?: string } };
    }[];
    expect(new Set(delivered.map((d) => d.messageId))).toEqual(new Set(['s-1', 's-2']));
    // accepted + delivered per message, each with its decrypted body.
    expect(delivered.length).toBe(webhooksOf('s-1').length + webhooksOf('s-2').length);
    for (const d of delivered) if (d.body.data.to !== undefined) expect(d.body.data.to).toBe(SUBJECT);
    const text = JSON.stringify(exported);
    expect(text).not.toContain(NEIGHBOUR.slice(1));
    expect(text).not.toMatch(/"n-\d"|warm-/);
    // Another controller's token (or none) sees nothing of it.
    expect(
      (await api('GET', `/v1/controllers/${CONTROLLER}/subject-requests/${access.id}`, undefined, 'nope'))
        .status,
    ).toBe(401);

    // Rectification is answered at once: nothing stored is rectifiable (documented why).
    const rectification = await fileAndAwait('rectification', SUBJECT);
    expect(rectification.result.rectified).toEqual([]);

    // Restriction of the neighbour: their next message is suppressed with the stable code.
    const restriction = await fileAndAwait('restriction', NEIGHBOUR);
    expect(restriction.status).toBe('completed');
    await send('n-3', NEIGHBOUR);
    await awaitTerminal('n-3', 'message.suppressed');
    expect(webhooksOf('n-3').find((w) => w.change?.type === 'message.suppressed')?.body.data.errorCode).toBe(
      'SMS_SUPPRESSED_RESTRICTION',
    );

    // Erasure of the subject: every service erases its rows and acknowledges.
    const erasure = await fileAndAwait('erasure', SUBJECT);
    expect(erasure.status).toBe('completed');
    const byService = Object.fromEntries(
      erasure.acknowledged.map((a: { service: string; erased: Record<string, number> }) => [
        a.service,
        a.erased,
      ]),
    );
    expect(byService.dispatcher.dispatcher_messages).toBe(2);
    expect(byService.webhooks.webhook_deliveries).toBe(delivered.length);

    // Nothing about the subject is returned any more: the earlier export is gone ...
    const earlier = await api(
      'GET',
      `/v1/controllers/${CONTROLLER}/subject-requests/${access.id}`,
      undefined,
      token,
    );
    expect(earlier.body.export).toBeNull();
    expect(earlier.body.erasedAt).not.toBeNull();
    // ... no service finds anything but the opt-out, kept by pseudonym ...
    const after = await fileAndAwait('access', SUBJECT);
    expect(after.export.dispatcher.messages).toEqual([]);
    expect(after.export.dispatcher.heldMessages).toEqual([]);
    expect(after.export.webhooks.deliveries).toEqual([]);
    expect(after.export.router.suppressions).toEqual([
      expect.objectContaining({ kind: 'opt_out', active: true }),
    ]);
    // ... and the stored rows: no ciphertext of the subject's left to decrypt, the neighbour's intact.
    const { rows: hooks } = await p.db.query<{ message_id: string }>(
      `SELECT message_id FROM webhook_deliveries WHERE controller_id = $1 ORDER BY message_id`,
      [CONTROLLER],
    );
    expect(hooks.map((h) => h.message_id)).not.toContain('s-1');
    expect(hooks.map((h) => h.message_id)).not.toContain('s-2');
    expect(hooks.map((h) => h.message_id)).toContain('n-1');
    const { rows: sends } = await p.db.query<{
      message_id: string;
      recipient_pseudonym: string;
      sender: string | null;
    }>(
      `SELECT message_id, recipient_pseudonym, sender FROM dispatcher_messages WHERE controller_id = $1 AND message_id IN ('s-1', 's-2', 'n-1')
        ORDER BY message_id`,
      [CONTROLLER],
    );
    expect(
      sends.map((s) => [s.message_id, s.recipient_pseudonym === 'ps_erased', s.sender === null]),
    ).toEqual([
      ['n-1', false, false],
      ['s-1', true, true],
      ['s-2', true, true],
    ]);
    const { rows: filed } = await p.db.query<{ id: string; subject: string | null }>(
      `SELECT id, subject FROM control_subject_requests WHERE id = ANY($1::text[])`,
      [[access.id, rectification.id, erasure.id]],
    );
    expect(filed.map((f) => f.subject)).toEqual([null, null, null]);
    const { rows: parts } = await p.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM control_subject_request_acks WHERE request_id = $1 AND export IS NOT NULL`,
      [access.id],
    );
    expect(Number(parts[0]!.n)).toBe(0);
    // The number was never stored in plaintext anywhere.
    expect((await dump()).filter((row) => row.includes(SUBJECT.slice(2)))).toEqual([]);

    // Every request is audited: filed and completed at control, answered by each service.
    const events: ProcessingEvent[] = [];
    const reader = await p.bus.readFromStart({
      topics: [p.topic('audit.processing.v1')],
      onRecords: (records) => {
        for (const r of records) events.push(processingEventSchema.parse(JSON.parse(r.value!.toString())));
      },
    });
    try {
      await eventually(20_000, () => {
        const dsr = events.filter(
          (e) =>
            e.controllerId === CONTROLLER && e.reason?.includes(erasure.id) && e.operation.startsWith('dsr.'),
        );
        expect(dsr.map((e) => `${e.service} ${e.operation} ${e.outcome}`).sort()).toEqual([
          'control dsr.erasure.complete performed',
          'control dsr.erasure.request performed',
          'dispatcher dsr.erasure performed',
          'router dsr.erasure performed',
          'webhooks dsr.erasure performed',
        ]);
        expect(new Set(dsr.map((e) => e.subjectPseudonym)).size).toBe(1);
      });
    } finally {
      await reader.stop();
    }
    expect(JSON.stringify(events)).not.toContain(SUBJECT.slice(2));

    // The opt-out survived the erasure: a new message to the subject is suppressed.
    await send('s-3', SUBJECT);
    await awaitTerminal('s-3', 'message.suppressed');
    expect(webhooksOf('s-3').find((w) => w.change?.type === 'message.suppressed')?.body.data.errorCode).toBe(
      'SMS_SUPPRESSED_OPT_OUT',
    );
  });
});
