import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendEvents, auditMigrations, verifyLedger } from '../src/adapters/pg-ledger.ts';

const event = (n: number, controllerId = 'acme'): ProcessingEvent => ({
  eventId: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
  occurredAt: new Date(Date.UTC(2026, 11, 3, 12, 0, n)).toISOString(),
  service: 'dispatcher',
  operation: 'send',
  controllerId,
  messageId: `m-${n}`,
  subjectPseudonym: `ps_${n}`,
  dataCategories: ['user.contact.phone_number'],
  region: 'us',
  subprocessor: 'telnyx',
  outcome: 'performed',
});

// The audit ledger on real PostgreSQL (issue 11): each event once, gap-free and hash-chained,
// append-only for everyone, and a verifier that names the first row an edit, a deletion, a
// reordering or a dropped tail broke (tampering done as a superuser, with triggers bypassed).
describe('audit ledger (real PostgreSQL)', () => {
  let schema: TestSchema;
  let db: Db;
  const at = new Date('2026-12-03T12:00:00Z');

  beforeAll(async () => {
    schema = await createTestSchema('audit-ledger');
    db = createPgDb({ url: schema.url, schema: schema.schema });
    await migrate(db, auditMigrations);
  });
  afterAll(async () => {
    await db.close();
    await schema.drop();
  });

  /** As a superuser past the append-only triggers: what an attacker with the database would do. */
  const tamper = (sql: string) =>
    db.transaction(async (tx) => {
      await tx.query('SET LOCAL session_replication_role = replica');
      await tx.query(sql);
    });
  const reset = () => tamper('DELETE FROM audit_ledger');

  describe('appending', () => {
    beforeEach(reset);

    it('appends each event once, in order, gap-free: a republished event (same id) is dropped', async () => {
      expect(await appendEvents(db, [event(1), event(2), event(2), event(3)], at)).toBe(3);
      expect(await appendEvents(db, [event(3), event(4), event(1)], at)).toBe(1);
      const { rows } = await db.query<{ seq: string; event_id: string }>(
        'SELECT seq, event_id FROM audit_ledger ORDER BY seq',
      );
      expect(rows.map((r) => [Number(r.seq), r.event_id.slice(-1)])).toEqual([
        [1, '1'],
        [2, '2'],
        [3, '3'],
        [4, '4'],
      ]);
      expect(await verifyLedger(db, { head: { seq: 4 } })).toMatchObject({ ok: true, count: 4, lastSeq: 4 });
    });

    it('concurrent appenders never fork the chain or leave a gap', async () => {
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => appendEvents(db, [event(10 + 2 * i), event(11 + 2 * i)], at)),
      );
      expect(await verifyLedger(db, { head: { seq: 16 } })).toMatchObject({ ok: true });
    });

    it('refuses UPDATE, DELETE and TRUNCATE, even to the table owner; the writer role may not either', async () => {
      await appendEvents(db, [event(1), event(2)], at);
      for (const sql of [
        "UPDATE audit_ledger SET controller_id = 'other' WHERE seq = 1",
        'DELETE FROM audit_ledger WHERE seq = 2',
        'TRUNCATE audit_ledger',
      ])
        await expect(db.query(sql), sql).rejects.toThrow(/append-only/);
      await expect(
        db.transaction(async (tx) => {
          await tx.query('SET LOCAL ROLE massivesms_audit_writer');
          await tx.query('DELETE FROM audit_ledger WHERE seq = 2');
        }),
      ).rejects.toThrow(/permission denied/);
      expect(await verifyLedger(db, { head: { seq: 2 } })).toMatchObject({ ok: true });
    });
  });

  describe('tampering found by the verifier', () => {
    beforeEach(async () => {
      await reset();
      await appendEvents(
        db,
        Array.from({ length: 6 }, (_, i) => event(i + 1)),
        at,
      );
    });

    it('an edited field of one row', async () => {
      await tamper(
        `UPDATE audit_ledger SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'telnyx', 'twilio'), 'UTF8') WHERE seq = 3`,
      );
      expect(await verifyLedger(db, { head: { seq: 6 } })).toMatchObject({ ok: false, seq: 3 });
    });

    it('a deleted middle row', async () => {
      await tamper('DELETE FROM audit_ledger WHERE seq = 4');
      expect(await verifyLedger(db, { head: { seq: 6 } })).toMatchObject({ ok: false, seq: 4 });
    });

    it('dropped last rows (found against the head a checkpoint names)', async () => {
      await tamper('DELETE FROM audit_ledger WHERE seq >= 5');
      expect(await verifyLedger(db)).toMatchObject({ ok: true }); // without an outside anchor: undetectable
      expect(await verifyLedger(db, { head: { seq: 6 } })).toMatchObject({ ok: false, seq: 5 });
    });

    it('two rows swapped', async () => {
      // The two rows trade places: 2 goes to 5 and 5 to 2 (through a free seq, one step at a time).
      await tamper('UPDATE audit_ledger SET seq = 100 WHERE seq = 2');
      await tamper('UPDATE audit_ledger SET seq = 2 WHERE seq = 5');
      await tamper('UPDATE audit_ledger SET seq = 5 WHERE seq = 100');
      expect(await verifyLedger(db, { head: { seq: 6 } })).toMatchObject({ ok: false, seq: 2 });
    });
  });
});
