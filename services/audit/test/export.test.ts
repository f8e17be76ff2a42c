import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { sha256, toHex } from '@massivesms/ledger';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerExports } from '../src/adapters/pg-export.ts';
import { appendEvents, auditMigrations } from '../src/adapters/pg-ledger.ts';
import { type CheckpointSigner, checkpointSigner, signCheckpoint } from '../src/adapters/pg-tree.ts';
import { canonicalText, type ExportManifest, encodeBundle, verifyExport } from '../src/export/bundle.ts';

let n = 0;
const event = (
  controllerId: string,
  minute: number,
  extra: Partial<ProcessingEvent> = {},
): ProcessingEvent => {
  n++;
  return {
    eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(Date.UTC(2026, 11, 4, 10, minute, n % 60)).toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId,
    messageId: `m-${n}`,
    subjectPseudonym: `ps_subject${n}`,
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    purpose: 'essential.service.notifications.sms',
    region: 'eu',
    subprocessor: 'telnyx',
    outcome: 'performed',
    ...extra,
  };
};

const bundleText = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const files = (bytes: Uint8Array) =>
  (JSON.parse(bundleText(bytes)) as { files: Record<string, string> }).files;
const period = { from: new Date('2026-12-04T10:00:00Z'), to: new Date('2026-12-04T11:00:00Z') };

// The controller export of DPA §10 on real PostgreSQL: a bundle of one controller's entries with
// inclusion proofs against signed checkpoints, verified offline by verifyExport, which refuses a
// bundle with any byte changed, another key, or another controller's entry.
describe('audit export (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  let signer: CheckpointSigner;
  let exports: LedgerExports;
  const at = new Date('2026-12-04T12:00:00Z');
  const sign = () =>
    db.transaction((tx) => signCheckpoint(tx, { signer, topic: 'eu.audit.checkpoints.v1', at }));

  beforeAll(async () => {
    schema = await createTestSchema('audit-export');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, auditMigrations);
    const kms = new LocalKms(generateMasterKey());
    signer = checkpointSigner('audit.massivesms.example/eu', await kms.signingKey('audit-checkpoints/eu'));
    exports = new LedgerExports(db, signer, { cell: 'eu', now: () => at });
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('answers not_checkpointed until a checkpoint is signed', async () => {
    await appendEvents(db, [event('acme', 1), event('globex', 1)], at);
    expect(await exports.exportBundle('acme', period)).toEqual({ kind: 'not_checkpointed' });
  });

  describe('with entries of several controllers under two checkpoints', () => {
    let bundle: Uint8Array;
    let manifest: ExportManifest;

    beforeAll(async () => {
      await appendEvents(
        db,
        [event('acme', 5), event('globex', 6), event('acme', 7), event('acme', 70 /* next hour */)],
        at,
      );
      await sign(); // size 6: covers the period's last acme entry (seq 5)
      await appendEvents(db, [event('globex', 8), event('globex', 9), event('acme', 10)], at);
      await sign(); // size 9, the head
      await appendEvents(db, [event('acme', 11)], at); // seq 10: not under a checkpoint yet
      // Up to 10:09: the last entry in it (seq 5) was first covered by checkpoint 6.
      const result = await exports.exportBundle('acme', { ...period, to: new Date('2026-12-04T10:09:00Z') });
      if (result.kind !== 'bundle') throw new Error(`no bundle: ${result.kind}`);
      bundle = result.bytes;
      manifest = result.manifest;
    });

    it("holds exactly the controller's entries of the period that a checkpoint covers, and verifies", async () => {
      const result = await exports.exportBundle('acme', period);
      if (result.kind !== 'bundle') throw new Error(result.kind);
      const verified = verifyExport(result.bytes, { trustedKey: signer.verifierKey });
      expect(verified).toMatchObject({ ok: true, manifest: { controllerId: 'acme', entries: 4 } });
      const seqs = files(result.bytes)
        ['entries.jsonl']!.trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { seq: number }).seq);
      expect(seqs).toEqual([1, 3, 5, 9]); // not 6 (next hour), not 10 (after the newest checkpoint)
      expect(result.manifest).toMatchObject({
        head: 9,
        checkpoints: [9],
        consistency: [],
        firstSeq: 1,
        lastSeq: 9,
      });
      expect(bundleText(result.bytes)).not.toContain('globex');
    });

    it('includes the checkpoint that first covered the last entry, with a consistency proof to the head', () => {
      expect(manifest).toMatchObject({ entries: 3, head: 9, checkpoints: [6, 9], lastSeq: 5 });
      expect(manifest.consistency).toEqual([{ from: 6, to: 9, proof: expect.any(Array) }]);
      expect(manifest.consistency[0]!.proof.length).toBeGreaterThan(0);
      expect(verifyExport(bundle, { trustedKey: signer.verifierKey }).ok).toBe(true);
    });

    it('is refused when any single byte of the bundle changes, naming the file', () => {
      const failures = new Map<string, number>();
      for (let i = 0; i < bundle.length; i++) {
        const copy = Uint8Array.from(bundle);
        copy[i]! ^= 0x01;
        const result = verifyExport(copy, { trustedKey: signer.verifierKey });
        expect(result.ok, `byte ${i} (${bundleText(bundle).slice(Math.max(0, i - 20), i + 20)})`).toBe(false);
        if (!result.ok) failures.set(result.file, (failures.get(result.file) ?? 0) + 1);
      }
      // Each part of the bundle was exercised (changes to a file's text are found by its hash or signature).
      expect([...failures.keys()].sort()).toEqual(
        expect.arrayContaining(['bundle', 'entries.jsonl', 'key.txt', 'manifest.sig', 'checkpoints/6.txt']),
      );
    });

    it('is refused under another trusted key, and when an entry of another controller is slipped in (even re-hashed)', async () => {
      const stranger = checkpointSigner(
        'audit.massivesms.example/eu',
        await new LocalKms(generateMasterKey()).signingKey('audit-checkpoints/eu'),
      ).verifierKey;
      expect(verifyExport(bundle, { trustedKey: stranger })).toMatchObject({ ok: false, file: 'key.txt' });
      // Rewriting an entry's controller and recomputing the file hash breaks the manifest signature.
      const f = files(bundle);
      const lines = f['entries.jsonl']!.trim().split('\n');
      const row = JSON.parse(lines[0]!) as { entry: string };
      row.entry = Buffer.from(
        Buffer.from(row.entry, 'base64').toString('utf8').replace('"acme"', '"globex"'),
      ).toString('base64');
      lines[0] = JSON.stringify(row);
      f['entries.jsonl'] = `${lines.join('\n')}\n`;
      const m = JSON.parse(f['manifest.json']!) as ExportManifest;
      f['manifest.json'] = canonicalText({
        ...m,
        files: { ...m.files, 'entries.jsonl': toHex(sha256(Buffer.from(f['entries.jsonl']!))) },
      });
      const result = verifyExport(encodeBundle(f), { trustedKey: signer.verifierKey });
      expect(result).toMatchObject({ ok: false, file: 'manifest.sig', reason: 'signature' });
    });

    it('refuses an export larger than the limit, and summarises the processing per operation and subprocessor', async () => {
      const small = new LedgerExports(db, signer, { cell: 'eu', maxEntries: 2 });
      expect(await small.exportBundle('acme', period)).toEqual({ kind: 'too_large', entries: 4, max: 2 });
      const summary = await exports.processingSummary('acme', period);
      expect(summary).toMatchObject({
        entries: 5,
        firstSeq: 1,
        lastSeq: 10,
        operations: [
          {
            service: 'dispatcher',
            operation: 'send',
            outcome: 'performed',
            count: 5,
            dataCategories: ['user.contact.phone_number', 'user.content.private'],
            purposes: ['essential.service.notifications.sms'],
          },
        ],
        subprocessors: [{ subprocessor: 'telnyx', region: 'eu', transferMechanism: null, count: 5 }],
      });
    });
  });
});
