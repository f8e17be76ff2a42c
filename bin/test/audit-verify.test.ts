import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { auditCheckpointSigner } from '@massivesms/audit/audit';
import { LedgerExports } from '@massivesms/audit/exports';
import { appendEvents, auditMigrations } from '@massivesms/audit/ledger';
import { signCheckpoint } from '@massivesms/audit/tree';
import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../massivesms.ts', import.meta.url));

const event = (n: number, controllerId = 'acme'): ProcessingEvent => ({
  eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
  occurredAt: new Date(Date.UTC(2026, 11, 3, 12, 0, n)).toISOString(),
  service: 'webhooks',
  operation: 'webhook.deliver',
  controllerId,
  region: 'us',
  dataCategories: [],
  outcome: 'performed',
});

// `massivesms audit verify` as an auditor runs it: against the cell's database, exit 0 for an
// intact ledger, 1 naming the first bad sequence number, 2 for a bad invocation.
describe('massivesms audit verify (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  let url: string;

  const masterKey = generateMasterKey();
  const verify = (...args: string[]) => massivesms('audit', 'verify', ...args);
  const massivesms = async (...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [cli, ...args], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, KMS_MASTER_KEY: masterKey },
      });
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout + e.stderr };
    }
  };

  beforeAll(async () => {
    schema = await createTestSchema('audit-verify');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, auditMigrations);
    await appendEvents(db, [event(1), event(2), event(3)], new Date());
    const signer = await auditCheckpointSigner(new LocalKms(masterKey), 'audit.massivesms.example/us');
    await db.transaction((tx) =>
      signCheckpoint(tx, { signer, topic: 'us.audit.checkpoints.v1', at: new Date() }),
    );
    url = `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('says intact, then names the first bad seq once a row was edited; --from starts later', async () => {
    const intact = await verify('--cell', 'us');
    expect(intact).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('ledger of cell us: intact from seq 1: 3 entries, last seq 3'),
    });
    expect(intact.stdout).toMatch(
      /1 signed checkpoints match the entries \(last at tree size 3\); signatures verified with audit\.massivesms\.example\/us\+[0-9a-f]{8}\+/,
    );
    const stranger = await auditCheckpointSigner(
      new LocalKms(generateMasterKey()),
      'audit.massivesms.example/us',
    );
    expect(await verify('--key', stranger.verifierKey)).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('BROKEN at seq 3 (checkpoint_signature)'),
    });
    expect(await verify('--key', 'not a key')).toMatchObject({ code: 2 });
    await db.transaction(async (tx) => {
      await tx.query('SET LOCAL session_replication_role = replica');
      await tx.query(
        `UPDATE audit_ledger SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'performed', 'denied'), 'UTF8') WHERE seq = 2`,
      );
    });
    const broken = await verify('--cell', 'us', '--json');
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ cell: 'us', ok: false, seq: 2 });
    expect(await verify('--from', '3')).toMatchObject({ code: 0 });
  });

  it('verify-export: VERIFIED for an intact bundle (file or unpacked directory), REFUSED naming the file once a byte changed', async () => {
    const signer = await auditCheckpointSigner(new LocalKms(masterKey), 'audit.massivesms.example/us');
    // Another controller's entries (the first test edited one of acme's), under a new checkpoint.
    await appendEvents(db, [event(10, 'initech'), event(11, 'initech'), event(12, 'initech')], new Date());
    await db.transaction((tx) =>
      signCheckpoint(tx, { signer, topic: 'us.audit.checkpoints.v1', at: new Date() }),
    );
    const result = await new LedgerExports(db, signer, { cell: 'us' }).exportBundle('initech', {
      from: new Date('2026-12-03T00:00:00Z'),
      to: new Date('2026-12-04T00:00:00Z'),
    });
    if (result.kind !== 'bundle') throw new Error(result.kind);
    const dir = mkdtempSync(join(tmpdir(), 'audit-export-'));
    try {
      const file = join(dir, 'bundle.json');
      writeFileSync(file, result.bytes);
      const ok = await massivesms('audit', 'verify-export', file, '--key', signer.verifierKey);
      expect(ok).toMatchObject({ code: 0 });
      expect(ok.stdout).toContain(
        'export of controller initech (cell us, 2026-12-03T00:00:00.000Z to 2026-12-04T00:00:00.000Z): VERIFIED: 3 entries (seq 4 to 6)',
      );
      expect(ok.stdout).toContain('(the trusted key)');
      // Unpacked into files, as an auditor might keep it.
      const unpacked = join(dir, 'unpacked');
      for (const [name, text] of Object.entries(
        (JSON.parse(Buffer.from(result.bytes).toString()) as { files: Record<string, string> }).files,
      )) {
        mkdirSync(dirname(join(unpacked, name)), { recursive: true });
        writeFileSync(join(unpacked, name), text);
      }
      expect(await massivesms('audit', 'verify-export', unpacked)).toMatchObject({
        code: 0,
        stdout: expect.stringContaining('compare it with the key MassiveSMS publishes'),
      });
      const tampered = Buffer.from(result.bytes);
      // Inside the bundle, entries.jsonl is a JSON string: its quotes are escaped.
      const at = tampered.indexOf('seq\\":5');
      expect(at).toBeGreaterThan(0);
      tampered[at + 6] = '7'.charCodeAt(0);
      writeFileSync(file, tampered);
      const refused = await massivesms('audit', 'verify-export', file, '--json');
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout)).toMatchObject({
        ok: false,
        file: 'entries.jsonl',
        reason: 'file_hash',
      });
      expect(await massivesms('audit', 'verify-export')).toMatchObject({ code: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad --from or --cell with the usage (exit 2)', async () => {
    expect(await verify('--from', '0')).toMatchObject({ code: 2, stdout: expect.stringContaining('usage:') });
    expect(await verify('--cell', 'mars')).toMatchObject({ code: 2 });
  });
});
