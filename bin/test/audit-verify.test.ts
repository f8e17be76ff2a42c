import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { appendEvents, auditMigrations } from '@massivesms/audit/ledger';
import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../massivesms.ts', import.meta.url));

const event = (n: number): ProcessingEvent => ({
  eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
  occurredAt: new Date(Date.UTC(2026, 11, 3, 12, 0, n)).toISOString(),
  service: 'webhooks',
  operation: 'webhook.deliver',
  controllerId: 'acme',
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

  const verify = async (...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [cli, 'audit', 'verify', ...args], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: url },
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
    url = `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('says intact, then names the first bad seq once a row was edited; --from starts later', async () => {
    expect(await verify('--cell', 'us')).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('ledger of cell us: intact from seq 1: 3 entries, last seq 3'),
    });
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

  it('refuses a bad --from or --cell with the usage (exit 2)', async () => {
    expect(await verify('--from', '0')).toMatchObject({ code: 2, stdout: expect.stringContaining('usage:') });
    expect(await verify('--cell', 'mars')).toMatchObject({ code: 2 });
  });
});
