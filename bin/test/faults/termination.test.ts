// Termination (DPA §11, issue 13) through the services `massivesms` starts, on real Kafka and
// PostgreSQL: router, dispatcher, webhooks and audit run as processes; the control plane runs in this
// process with a fake clock, so the 30-day grace period passes in a moment. By day 30 nothing
// personal decrypts, the opt-out still blocks, and the ledger verifies and holds the certificate.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  decodeJsonOrThrow,
  type ProcessingEvent,
  processingEventSchema,
  type Rejection,
  rejectionSchema,
  suppressionEventSchema,
} from '@massivesms/contracts';
import { type Control, createControl } from '@massivesms/control/control';
import {
  canonicalJson,
  LocalKms,
  PseudonymKey,
  pseudonymise,
  toControllerId,
  toE164,
  toWrappedKey,
} from '@massivesms/privacy';
import { createLogger } from '@massivesms/telemetry';
import { eventually, testLogDestination, webhookStatusChange } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  type ControlReply,
  controlClient,
  type FaultPipeline,
  OPERATOR_TOKEN,
  onboardController,
  SENDER,
  startFaultPipeline,
} from './pipeline.ts';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../massivesms.ts', import.meta.url));

const CONTROLLER = 'endco';
const SUBJECT = '+14155550143';
const NEIGHBOUR = '+14155550198';
const DAY_MS = 86_400_000;
/** A field sealed under a controller key (libs/privacy field.ts): `v1.<iv>.<ciphertext+tag>`. */
const CIPHERTEXT = /\bv1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{20,}/;

describe('termination of a controller across the services (fake clock)', () => {
  let p: FaultPipeline;
  let control: Control;
  let controlUrl: string;
  let token: string;
  let endpointId: string;
  let offsetMs = 0;

  const api = controlClient(() => controlUrl);
  const webhooksOf = (messageId: string) =>
    p.receiver.received
      .filter((r) => r.status >= 200 && r.status < 300)
      .map((r) => ({ change: webhookStatusChange(r.body), body: JSON.parse(r.body) }))
      .filter((w) => w.change?.messageId === messageId);
  const send = (messageId: string, to: string) =>
    p.produceRequests([
      {
        messageId,
        controllerId: CONTROLLER,
        to,
        body: `Hello Erika Mustermann, your code ${messageId} is 4711.`,
      },
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
  /** Rows that name the controller and still hold a sealed field. */
  const sealedRowsOfController = async () =>
    (await dump()).filter((row) => row.includes(CONTROLLER) && CIPHERTEXT.test(row));
  /** Every decoded record of a topic, read from the start. */
  const readTopic = async (name: Parameters<FaultPipeline['topic']>[0]) => {
    const records: { key: string | null; value: Buffer | null }[] = [];
    const reader = await p.bus.readFromStart({
      topics: [p.topic(name)],
      onRecords: (batch) => {
        for (const r of batch)
          records.push({ key: r.key?.toString() ?? null, value: r.value ? Buffer.from(r.value) : null });
      },
    });
    // Read until the count stops growing (bounded by eventually's deadline).
    let seen = -1;
    await eventually(15_000, async () => {
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(records.length).toBe(seen);
      seen = records.length;
    }).catch(() => undefined);
    await reader.stop();
    return records;
  };

  beforeAll(async () => {
    // Checkpoints every half second: the return bundle and the certificate need a signed one.
    p = await startFaultPipeline({ also: ['audit'], env: { AUDIT_CHECKPOINT_INTERVAL_MS: '500' } });
    control = await createControl({
      cell: 'us',
      db: p.db,
      bus: p.bus,
      kms: new LocalKms(p.masterKey),
      log: createLogger({ service: 'control', level: 'warn', destination: testLogDestination }),
      operatorToken: OPERATOR_TOKEN,
      topicNamespace: p.topics.namespace,
      webhookAllowList: ['127.0.0.1'],
      auditUrl: p.opsUrl('audit'),
      clock: () => new Date(Date.now() + offsetMs),
      // The test starts due terminations itself, after moving the clock.
      terminationCheckIntervalMs: 3_600_000,
    });
    controlUrl = (await control.listen(0, '127.0.0.1')).replace('0.0.0.0', '127.0.0.1');
    ({ token, endpointId } = await onboardController(p, api, CONTROLLER, [
      'message.accepted',
      'message.delivered',
      'message.suppressed',
      'message.rejected',
    ]));
  }, 150_000);
  afterAll(async () => {
    await control?.close();
    await p?.close();
  });

  it('returns the data, deletes it on day 30, destroys the key, keeps the opt-out, and certifies it in the ledger', {
    timeout: 240_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    for (const [id, to] of [
      ['s-1', SUBJECT],
      ['s-2', SUBJECT],
      ['n-1', NEIGHBOUR],
    ] as const)
      await send(id, to);
    for (const id of ['s-1', 's-2', 'n-1'])
      await eventually(30_000, () => {
        expect(webhooksOf(id).map((w) => w.change?.type)).toContain('message.delivered');
      });
    // The subject opts out (STOP); the neighbour objects through a data-subject request.
    const stop = await p.telnyx.sendInbound({
      to: SENDER,
      from: SUBJECT,
      text: 'STOP',
      url: `${p.dispatcherUrl}/inbound/telnyx`,
    });
    expect(stop.attempts.at(-1)?.status).toBe(200);
    const objection = await api(
      'POST',
      `/v1/controllers/${CONTROLLER}/subject-requests`,
      { type: 'objection', phoneNumber: NEIGHBOUR },
      token,
    );
    expect(objection.status).toBe(202);
    await eventually(30_000, async () => {
      const { rows } = await p.db.query(
        `SELECT 1 FROM dispatcher_suppressions WHERE controller_id = $1 AND kind = 'opt_out'`,
        [CONTROLLER],
      );
      expect(rows.length).toBe(1);
    });
    // What the deletion must remove exists: sealed numbers, bodies, secrets of this controller.
    expect((await sealedRowsOfController()).length).toBeGreaterThan(0);
    const sentToSubject = () =>
      [...p.telnyx.ledger.entries, ...p.twilio.ledger.entries].filter((e) => e.to === SUBJECT).length;
    expect(sentToSubject()).toBe(2);

    // Day 0: the controller terminates. No new message is accepted from now on.
    const filed = await api('POST', `/v1/controllers/${CONTROLLER}/termination`, undefined, token);
    expect(filed.status).toBe(202);
    expect(filed.body.status).toBe('grace');
    expect(new Date(filed.body.deleteAfter).getTime() - new Date(filed.body.requestedAt).getTime()).toBe(
      30 * DAY_MS,
    );
    expect((await api('POST', `/v1/controllers/${CONTROLLER}/termination`, undefined, token)).body).toEqual(
      filed.body,
    );
    let k = 0;
    await eventually(30_000, async () => {
      const id = `after-${k++}`;
      await send(id, NEIGHBOUR);
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(webhooksOf(id).find((w) => w.change?.type === 'message.rejected')?.body.data.errorCode).toBe(
        'SMS_CONTROLLER_TERMINATED',
      );
    });

    // During the grace period the controller downloads its return bundle.
    let bundle: ControlReply['body'];
    await eventually(30_000, async () => {
      const res = await api(
        'GET',
        `/v1/controllers/${CONTROLLER}/termination/return-bundle`,
        undefined,
        token,
      );
      expect(res.status).toBe(200);
      bundle = res.body;
      // The audit export as the ledger makes it: every entry's canonical JSON, base64, one per line.
      const entries = (bundle.auditExport.files['entries.jsonl'] as string)
        .trim()
        .split('\n')
        .map((line) => JSON.parse(Buffer.from(JSON.parse(line).entry, 'base64').toString('utf8')));
      expect(entries.filter((e) => e.messageId === 's-2').length).toBeGreaterThan(0);
    });
    // The audit export in it verifies offline, as the guide says.
    const exportFile = join(mkdtempSync(join(tmpdir(), 'return-bundle-')), 'export.json');
    writeFileSync(exportFile, JSON.stringify(bundle.auditExport));
    const offline = await run(process.execPath, [cli, 'audit', 'verify-export', exportFile]);
    expect(offline.stdout).toContain(`export of controller ${CONTROLLER}`);
    expect(offline.stdout).toContain('VERIFIED');
    expect(bundle.controller.id).toBe(CONTROLLER);
    expect(bundle.instructions.map((i: { version: number }) => i.version)).toEqual([1]);
    expect(bundle.endpoints).toHaveLength(1);
    expect(bundle.subjectRequests).toEqual([
      expect.objectContaining({ type: 'objection', phoneNumber: NEIGHBOUR }),
    ]);

    // Day 29: nothing happens yet.
    offsetMs = 29 * DAY_MS;
    expect(await control.terminations.runDue()).toBe(0);
    expect(
      (await api('GET', `/v1/controllers/${CONTROLLER}/termination`, undefined, token)).body.status,
    ).toBe('grace');
    // Day 30: the deletion starts, every service deletes and answers, control completes it.
    offsetMs = 30 * DAY_MS + 60_000;
    expect(await control.terminations.runDue()).toBe(1);
    let done: ControlReply['body'];
    await eventually(60_000, async () => {
      done = (await api('GET', `/v1/controllers/${CONTROLLER}/termination`, undefined, token)).body;
      expect(done.status).toBe('completed');
    });
    const erased = Object.fromEntries(
      done.acknowledged.map((a: { service: string; erased: Record<string, number> }) => [
        a.service,
        a.erased,
      ]),
    );
    expect(Object.keys(erased).sort()).toEqual(['dispatcher', 'router', 'webhooks']);
    // Three sends plus the warm-up ones, each closed: all deleted; the rejected ones never got here.
    expect(erased.dispatcher.dispatcher_messages).toBeGreaterThanOrEqual(4);
    expect(erased.webhooks.webhook_deliveries).toBeGreaterThan(0);
    expect(erased.router.router_messages).toBeGreaterThanOrEqual(4);

    // Nothing personal decrypts: the wrapped data key is gone, the controller's record is a
    // tombstone, and no row naming the controller holds a sealed field any more.
    const { rows: keyRows } = await p.db.query<{
      data_key_wrapped: string | null;
      pseudonym_key_wrapped: string | null;
      destroyed_at: Date | null;
    }>('SELECT * FROM control_controller_keys WHERE controller_id = $1', [CONTROLLER]);
    expect(keyRows[0]).toMatchObject({ data_key_wrapped: null, destroyed_at: expect.any(Date) });
    const controllerRecords = (await readTopic('controllers.v1')).filter((r) => r.key === CONTROLLER);
    expect(controllerRecords.at(-1)?.value).toBeNull();
    const endpointRecords = (await readTopic('endpoints.v1')).filter((r) => r.key === endpointId);
    expect(endpointRecords.at(-1)?.value).toBeNull();
    expect(await sealedRowsOfController()).toEqual([]);
    const rows = await dump();
    expect(rows.filter((row) => row.includes(SUBJECT.slice(2)) || row.includes('Mustermann'))).toEqual([]);
    const returned = await api(
      'GET',
      `/v1/controllers/${CONTROLLER}/termination/return-bundle`,
      undefined,
      token,
    );
    expect(returned.status).toBe(410);
    expect(returned.body.code).toBe('TERMINATION_DATA_DELETED');

    // The opt-out remains and still blocks: kept by pseudonym in router, dispatcher and the
    // suppressions topic, matched by the pseudonym key that was kept; a new send reaches no carrier.
    const pseudonymKey = PseudonymKey.fromBytes(
      toControllerId(CONTROLLER),
      await new LocalKms(p.masterKey).unwrap(
        toControllerId(CONTROLLER),
        toWrappedKey(keyRows[0]!.pseudonym_key_wrapped!),
      ),
    );
    const subjectPseudonym = pseudonymise(pseudonymKey, toE164(SUBJECT));
    for (const table of ['router_suppressions', 'dispatcher_suppressions']) {
      const { rows: kept } = await p.db.query<{ pseudonym: string; active: boolean }>(
        `SELECT pseudonym, active FROM ${table} WHERE controller_id = $1 AND kind = 'opt_out'`,
        [CONTROLLER],
      );
      expect(kept).toEqual([{ pseudonym: subjectPseudonym, active: true }]);
    }
    const optOut = (await readTopic('suppressions.v1'))
      .filter((r) => r.value !== null)
      .map((r) => decodeJsonOrThrow(suppressionEventSchema, r.value))
      .filter((s) => s.controllerId === CONTROLLER && s.subjectPseudonym === subjectPseudonym);
    expect(optOut.at(-1)).toMatchObject({ kind: 'opt_out', active: true });
    // The controller is gone from the cell: a late request is refused as for no controller, and
    // nothing of it can be sealed any more (no key).
    await send('s-after', SUBJECT);
    let refusal: Rejection | undefined;
    await eventually(30_000, async () => {
      refusal = (await readTopic('sms.rejected.v1'))
        .filter((r) => r.value !== null)
        .map((r) => decodeJsonOrThrow(rejectionSchema, r.value))
        .find((r) => r.messageId === 's-after');
      expect(refusal?.code).toBe('SMS_UNKNOWN_CONTROLLER');
    });
    expect(refusal?.sealed).toBeUndefined();
    expect(sentToSubject()).toBe(2);

    // The certificate: downloadable, its hash recorded in the ledger, which still verifies.
    const certificate = await api(
      'GET',
      `/v1/controllers/${CONTROLLER}/termination/deletion-certificate`,
      undefined,
      token,
    );
    expect(certificate.status).toBe(200);
    const sha256 = createHash('sha256').update(canonicalJson(certificate.body)).digest('hex');
    expect(done.certificate.sha256).toBe(sha256);
    expect(certificate.body).toMatchObject({
      controllerId: CONTROLLER,
      keyDestruction: { dataKey: { destroyedAt: expect.any(String) } },
      ledgerCheckpoint: { treeSize: expect.any(Number), rootHash: expect.any(String) },
      deleted: { dispatcher: { erased: erased.dispatcher }, control: { erased: expect.any(Object) } },
    });
    expect(certificate.body.deleted.control.erased.control_endpoint_secrets).toBe(1);
    let events: ProcessingEvent[] = [];
    await eventually(30_000, async () => {
      events = (await p.ledger())
        .map((row) => processingEventSchema.parse(JSON.parse(row.entry.toString('utf8'))))
        .filter((e) => e.controllerId === CONTROLLER);
      expect(events.find((e) => e.operation === 'termination.certificate')?.reason).toContain(
        `sha256:${sha256}`,
      );
    });
    expect(
      events
        .filter((e) => e.operation === 'termination.delete')
        .map((e) => e.service)
        .sort(),
    ).toEqual(['dispatcher', 'router', 'webhooks']);
    // The ledger kept the controller's history from before the deletion.
    expect(events.some((e) => e.messageId === 's-1')).toBe(true);
    const verify = await run(process.execPath, [cli, 'audit', 'verify', '--cell', 'us'], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: `${p.schema.url}?options=${encodeURIComponent(`-c search_path=${p.schema.schema}`)}`,
        KMS_MASTER_KEY: p.masterKey,
      },
    });
    expect(verify.stdout).toContain('intact from seq 1');
  });
});
