import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { appendEvents, auditMigrations } from '@massivesms/audit/ledger';
import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../massivesms.ts', import.meta.url));

const CANARY_NUMBER = '14155550123';
let n = 0;
/** A telnyx send of `subject` (the receipt operation when `receipt`), at 10:MM on 2026-12-04. */
const event = (
  controllerId: string,
  minute: number,
  subject: string,
  extra: Partial<ProcessingEvent> = {},
): ProcessingEvent => {
  n++;
  return {
    eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(Date.UTC(2026, 11, 4, 10, minute)).toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId,
    messageId: `msg-${n}`,
    subjectPseudonym: subject,
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    region: 'us',
    subprocessor: 'telnyx',
    outcome: 'performed',
    ...extra,
  };
};

// `massivesms breach-scope` as an operator runs it, on a ledger of known truth: acme had 3 subjects
// (one messaged twice) and 4 records at telnyx in [10:00, 11:00); globex 1 subject, 1 record; twilio's
// and out-of-window events do not count.
describe('massivesms breach-scope (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  let url: string;
  let dir: string;
  const breachScope = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, 'breach-scope', ...args], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, AUDIT_PRIVACY_CONTACT: 'dpo@example.test' },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const window = ['--from', '2026-12-04T10:00:00Z', '--to', '2026-12-04T11:00:00Z'];

  beforeAll(async () => {
    schema = await createTestSchema('breach-cli');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, auditMigrations);
    await appendEvents(
      db,
      [
        event('acme', 1, 'ps_a1'),
        event('acme', 2, 'ps_a1', { reason: `carrier echoed ${CANARY_NUMBER}` }),
        event('acme', 3, 'ps_a2'),
        event('acme', 4, 'ps_a3', { operation: 'receipt', dataCategories: ['user.contact.phone_number'] }),
        event('globex', 5, 'ps_a1'),
        event('acme', 6, 'ps_a4', { subprocessor: 'twilio' }),
        event('acme', 60, 'ps_a5'),
      ],
      new Date(),
    );
    url = `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
    dir = mkdtempSync(join(tmpdir(), 'breach-scope-'));
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the scope per controller, as text and JSON, and writes the draft notice', async () => {
    const notice = join(dir, 'notice.md');
    const text = await breachScope('--subprocessor', 'telnyx', ...window, '--cell', 'us', '--notice', notice);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toContain(
      '2 controllers, 4 subjects (pseudonyms, counted per controller), 5 records',
    );
    expect(text.stdout).toContain('controller acme: 3 subjects, 4 records (0 without a subject), 4 messages');
    expect(text.stdout).toContain(
      'user.contact.phone_number: 4 records, 3 subjects; encrypted at rest NO, in transit yes',
    );
    expect(text.stdout).toContain('controller globex: 1 subjects, 1 records');
    const markdown = readFileSync(notice, 'utf8');
    expect(markdown).toContain('approximately **3** data subjects');
    expect(markdown).toContain('**4** processing records, concerning **4** messages');
    expect(markdown).toContain('processing in United States');
    expect(markdown).toContain('Data protection contact of MassiveSMS: dpo@example.test.');
    const json = await breachScope(
      '--subprocessor',
      'telnyx',
      ...window,
      '--json',
      '--subjects',
      '--controller',
      'acme',
    );
    expect(json.code).toBe(0);
    const scope = JSON.parse(json.stdout);
    expect(scope.totals).toEqual({
      controllers: 1,
      subjects: 3,
      records: 4,
      recordsWithoutSubject: 0,
      messages: 4,
    });
    expect(scope.controllers[0].subjectPseudonyms).toEqual(['ps_a1', 'ps_a2', 'ps_a3']);
    for (const output of [text.stdout, markdown, json.stdout]) {
      expect(output).not.toContain(CANARY_NUMBER);
      expect(output).not.toMatch(/\d{9,}/);
    }
  });

  it('bad arguments: usage on stderr, exit 2, no stack trace; --help prints the usage', async () => {
    const cases = [
      [],
      ['--subprocessor', 'telnyx', '--from', '2026-12-04T10:00:00Z'],
      ['--subprocessor', 'Tel nyx', ...window],
      ['--subprocessor', 'telnyx', '--from', 'yesterday', '--to', '2026-12-04T11:00:00Z'],
      ['--subprocessor', 'telnyx', '--from', '2026-12-04T11:00:00Z', '--to', '2026-12-04T10:00:00Z'],
      ['--subprocessor', 'telnyx', ...window, '--cell', 'apac'],
      ['--subprocessor', 'telnyx', ...window, '--frobnicate'],
      ['--subprocessor'],
    ];
    // Each is its own process: start them together.
    const results = await Promise.all(cases.map((args) => breachScope(...args)));
    results.forEach((refused, i) => {
      expect(refused.code, cases[i]!.join(' ')).toBe(2);
      expect(refused.stderr).toContain('usage: massivesms breach-scope');
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      expect(refused.stdout).toBe('');
    });
    const help = await breachScope('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--subprocessor  telnyx, twilio');
    expect(help.stdout).toContain('--notice FILE');
  });
});
