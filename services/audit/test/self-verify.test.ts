import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents, auditMigrations } from '../src/adapters/pg-ledger.ts';
import { ledgerSelfVerifier } from '../src/self-verify.ts';

let n = 0;
const event = (): ProcessingEvent => {
  n++;
  return {
    eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(Date.UTC(2026, 11, 4, 10, 0, n % 60)).toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId: 'acme',
    messageId: `m-${n}`,
    subjectPseudonym: `ps_subject${n}`,
    dataCategories: ['user.contact.phone_number'],
    purpose: 'essential.service.notifications.sms',
    region: 'eu',
    subprocessor: 'telnyx',
    outcome: 'performed',
  };
};

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value;
}

// The self-verification behind the AuditLedgerVerifyFailed alert, on real PostgreSQL: quiet on an
// intact ledger, counting a failure (and naming the first bad seq) once a stored entry is edited.
describe('audit ledger self-verification (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;

  beforeAll(async () => {
    schema = await createTestSchema('audit-self-verify');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, auditMigrations);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  it('verifies new entries incrementally, and a full pass finds an edited old entry', async () => {
    const registry = new Registry();
    const failures: [number, string][] = [];
    const verifier = ledgerSelfVerifier(db, registry, {
      keys: [],
      onFailure: (seq, reason) => failures.push([seq, reason]),
    });
    const at = new Date('2026-12-04T12:00:00Z');
    await appendEvents(db, [event(), event(), event()], at);
    await verifier.run(); // the first run is a full pass
    expect(await value(registry, 'audit_ledger_verified_seq')).toBe(3);
    await appendEvents(db, [event(), event()], at);
    await verifier.run(); // entries 4 and 5 only
    expect(await value(registry, 'audit_ledger_verified_seq')).toBe(5);
    expect(await value(registry, 'audit_ledger_verifications_total', { outcome: 'ok' })).toBe(2);

    // Someone with the rights to bypass the append-only trigger edits entry 2. The incremental check
    // (nothing new) cannot see it; the next full pass does.
    await db.transaction(async (tx) => {
      await tx.query('SET LOCAL session_replication_role = replica');
      await tx.query(
        `UPDATE audit_ledger SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'performed', 'denied'), 'UTF8') WHERE seq = 2`,
      );
    });
    await verifier.run();
    expect(await value(registry, 'audit_ledger_verifications_total', { outcome: 'failed' })).toBe(0);
    // The periodic full pass (here every run; a restarted service also starts with one).
    const full = new Registry();
    const everyRun = ledgerSelfVerifier(db, full, {
      keys: [],
      fullEveryMs: 0,
      onFailure: (seq, reason) => failures.push([seq, reason]),
    });
    await everyRun.run();
    await everyRun.run(); // it keeps failing: the alert keeps firing
    expect(await value(full, 'audit_ledger_verifications_total', { outcome: 'failed' })).toBe(2);
    expect(await value(full, 'audit_ledger_verifications_total', { outcome: 'ok' })).toBe(0);
    expect(failures).toEqual([
      [2, 'hash_mismatch'],
      [2, 'hash_mismatch'],
    ]);
    expect(await value(full, 'audit_ledger_verifications_total', { outcome: 'error' })).toBe(0);
  });
});
