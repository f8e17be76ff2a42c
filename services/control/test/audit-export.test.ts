import { auditCheckpointSigner } from '@massivesms/audit/audit';
import { verifyExport } from '@massivesms/audit/bundle';
import { appendEvents } from '@massivesms/audit/ledger';
import { type CheckpointSigner, signCheckpoint } from '@massivesms/audit/tree';
import {
  decodeJsonOrThrow,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { IncomingRecord } from '@massivesms/messaging';
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlHarness, OPERATOR_TOKEN, startControl } from './harness.ts';

let n = 0;
const event = (controllerId: string, extra: Partial<ProcessingEvent> = {}): ProcessingEvent => {
  n++;
  return {
    eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(Date.UTC(2026, 11, 4, 10, n)).toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId,
    messageId: `m-${n}`,
    subjectPseudonym: `ps_s${n}`,
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    purpose: 'essential.service.notifications.sms',
    region: 'us',
    subprocessor: 'telnyx',
    outcome: 'performed',
    ...extra,
  };
};
const period = 'from=2026-12-04T10:00:00Z&to=2026-12-04T11:00:00Z';

// The control API's audit routes (DPA §10, Art. 30(2)), answered by the audit service's internal
// routes (the control API checks the token and the controller scope first): a controller gets its own export and record of processing, never another's; the
// export verifies offline and is itself recorded as an operation.
describe('audit export and processing record API (real PostgreSQL and Kafka)', () => {
  let h: ControlHarness;
  let signer: CheckpointSigner;
  const tokens: Record<string, string> = {};

  /** The export's exact bytes, as a client saves them. */
  const download = async (controllerId: string, token: string, query = period) => {
    const res = await fetch(`${h.url}/v1/controllers/${controllerId}/audit-export?${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
  };

  beforeAll(async () => {
    h = await startControl({
      auditSigner: async (kms) => {
        signer = await auditCheckpointSigner(kms, 'audit.massivesms.example/us');
        return signer;
      },
    });
    for (const id of ['acme', 'globex']) {
      expect(
        (await h.call('POST', '/v1/controllers', { body: { id, name: `${id} Inc.`, region: 'us' } })).status,
      ).toBe(201);
      tokens[id] = (await h.call('POST', `/v1/controllers/${id}/tokens`)).body.token;
    }
  });
  afterAll(() => h.close());

  it('publishes the verifier key to anyone, without a token', async () => {
    expect(await h.call('GET', '/v1/audit/verifier-key', { token: null })).toMatchObject({
      status: 200,
      body: { origin: 'audit.massivesms.example/us', verifierKey: signer.verifierKey },
    });
  });

  it('answers 503 AUDIT_NOT_CHECKPOINTED before the ledger has a signed checkpoint', async () => {
    const res = await h.call('GET', `/v1/controllers/acme/audit-export?${period}`, { token: tokens.acme! });
    expect(res).toMatchObject({ status: 503, body: { code: 'AUDIT_NOT_CHECKPOINTED' } });
  });

  describe('with a checkpointed ledger', () => {
    beforeAll(async () => {
      await appendEvents(
        h.db,
        [
          event('acme'),
          event('globex'),
          event('acme', { subprocessor: 'twilio', transferMechanism: 'scc-2021' }),
          event('acme', { service: 'router', operation: 'route', subprocessor: undefined }),
          event('globex'),
        ].map((e) => JSON.parse(JSON.stringify(e)) as ProcessingEvent),
        new Date(),
      );
      await h.db.transaction((tx) =>
        signCheckpoint(tx, { signer, topic: 'us.audit.checkpoints.v1', at: new Date() }),
      );
    });

    it("gives a controller its own export, which verifies offline against the ledger's key", async () => {
      const res = await download('acme', tokens.acme!);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(
        'attachment; filename="audit-export-acme-2026-12-04-2026-12-04.json"',
      );
      const verified = verifyExport(res.bytes, { trustedKey: signer.verifierKey });
      expect(verified).toMatchObject({ ok: true, manifest: { controllerId: 'acme', entries: 3, head: 5 } });
      expect(Buffer.from(res.bytes).toString()).not.toContain('globex');
      // The operator may export any controller.
      const other = await download('globex', OPERATOR_TOKEN);
      expect(verifyExport(other.bytes, { trustedKey: signer.verifierKey })).toMatchObject({
        ok: true,
        manifest: { controllerId: 'globex', entries: 2 },
      });
    });

    it("never another controller's: 404, as for an unknown one; a bad period is 400", async () => {
      expect((await download('globex', tokens.acme!)).status).toBe(404);
      expect(
        (await h.call('GET', `/v1/controllers/globex/processing-record?${period}`, { token: tokens.acme! }))
          .status,
      ).toBe(404);
      const backwards = await h.call(
        'GET',
        '/v1/controllers/acme/audit-export?from=2026-12-04T11:00:00Z&to=2026-12-04T10:00:00Z',
        {
          token: tokens.acme!,
        },
      );
      expect(backwards).toMatchObject({ status: 400, body: { code: 'AUDIT_PERIOD_INVALID' } });
    });

    it('records each export as an audit.export operation by the token that asked', async () => {
      const seen: IncomingRecord[] = [];
      await eventually(15_000, async () => {
        seen.length = 0;
        const reader = await h.bus.readFromStart({
          topics: [topicFor('us', 'audit.processing.v1', h.topics.namespace)],
          onRecords: (records) => {
            seen.push(...records);
          },
        });
        await reader.caughtUp;
        await reader.stop();
        const exports = seen
          .map((r) => decodeJsonOrThrow(processingEventSchema, r.value))
          .filter((e) => e.operation === 'audit.export');
        expect(exports.map((e) => e.controllerId).sort()).toEqual(['acme', 'globex']);
      });
    });

    it('builds the record of processing (Art. 30(2)) from the ledger and the subprocessor registry', async () => {
      const res = await h.call('GET', `/v1/controllers/acme/processing-record?${period}`, {
        token: tokens.acme!,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        controller: { id: 'acme', name: 'acme Inc.', region: 'us' },
        processor: { name: 'MassiveSMS', role: 'processor' },
        source: { ledger: 'audit.massivesms.example/us', entries: 3, firstSeq: 1, lastSeq: 4 },
        categoriesOfProcessing: [
          { service: 'dispatcher', operation: 'send', outcome: 'performed', count: 2 },
          { service: 'router', operation: 'route', outcome: 'performed', count: 1 },
        ],
      });
      expect(res.body.subprocessors).toEqual([
        expect.objectContaining({ name: 'telnyx', region: 'us', transferMechanism: null, operations: 1 }),
        expect.objectContaining({
          name: 'twilio',
          region: 'us',
          transferMechanism: 'scc-2021',
          operations: 1,
        }),
      ]);
      expect(res.body.subprocessors[0].legalEntity).toEqual(expect.any(String));
      expect(res.body.subprocessors[0].country).toEqual(expect.any(String));
      expect(res.body.transfers).toEqual([
        expect.objectContaining({ name: 'twilio', transferMechanism: 'scc-2021' }),
      ]);
      expect(res.body.securityMeasures.length).toBeGreaterThan(3);
      expect(JSON.stringify(res.body)).not.toContain('globex');
    });
  });
});

describe('audit routes on a control plane without the ledger', () => {
  let h: ControlHarness;
  beforeAll(async () => {
    h = await startControl();
    await h.call('POST', '/v1/controllers', { body: { id: 'acme', name: 'Acme', region: 'us' } });
  });
  afterAll(() => h.close());

  it('answers 503 AUDIT_LEDGER_UNAVAILABLE', async () => {
    for (const route of ['audit-export', 'processing-record']) {
      const res = await h.call('GET', `/v1/controllers/acme/${route}?${period}`);
      expect(res, route).toMatchObject({ status: 503, body: { code: 'AUDIT_LEDGER_UNAVAILABLE' } });
    }
    expect(await h.call('GET', '/v1/audit/verifier-key')).toMatchObject({
      status: 503,
      body: { code: 'AUDIT_LEDGER_UNAVAILABLE' },
    });
  });
});
