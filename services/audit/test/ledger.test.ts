import type { ProcessingEvent } from '@massivesms/contracts';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import {
  chainHash,
  formatCheckpoint,
  GENESIS_HASH,
  leafHash,
  proveConsistency,
  proveInclusion,
  rootAt,
  rootOf,
  signNoteWith,
  verifyConsistency,
  verifyInclusion,
} from '@massivesms/ledger';
import { generateMasterKey, LocalKms } from '@massivesms/privacy';
import { createTestSchema, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendEvents, auditMigrations, mergingAppends, verifyLedger } from '../src/adapters/pg-ledger.ts';
import {
  type CheckpointSigner,
  checkpointSigner,
  nodeReader,
  signCheckpoint,
} from '../src/adapters/pg-tree.ts';

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
  const reset = () =>
    tamper(
      'DELETE FROM audit_ledger; DELETE FROM audit_tree_nodes; DELETE FROM audit_checkpoints; DELETE FROM audit_outbox',
    );

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

    it('appends as the writer role, in five statements per batch whatever its size', async () => {
      const seen: { sql: string; user: string }[] = [];
      const watched: Db = {
        ...db,
        transaction: (fn) =>
          db.transaction((tx) =>
            fn({
              async query<R>(sql: string, params?: readonly unknown[]) {
                const { rows } = await tx.query<{ u: string }>('SELECT current_user AS u');
                seen.push({ sql, user: rows[0]!.u });
                return tx.query<R>(sql, params);
              },
            }),
          ),
      };
      await appendEvents(watched, [event(1), event(2), event(3)], at);
      seen.length = 0;
      await appendEvents(
        watched,
        Array.from({ length: 9 }, (_, i) => event(4 + i)),
        at,
      );
      // The lock (which takes the role), the state read and one insert of rows and tree nodes; the
      // tree's edge comes from the previous append, not from a read.
      expect(seen).toHaveLength(3);
      expect(seen.slice(1).map((s) => s.user)).toEqual([
        'massivesms_audit_writer',
        'massivesms_audit_writer',
      ]);
      expect(await verifyLedger(db, { head: { seq: 12 } })).toMatchObject({ ok: true });
    });

    it('merges the batches that arrive while an append runs into the next one, each call settled once committed', async () => {
      let transactions = 0;
      const counted: Db = {
        ...db,
        transaction: (fn) => {
          transactions++;
          return db.transaction(fn);
        },
      };
      const append = mergingAppends(counted, () => at);
      // Four partitions' batches at once: the first runs alone, the three behind it go together.
      const counts = await Promise.all([
        append([event(1), event(2)]),
        append([event(3)]),
        append([event(4), event(5)]),
        append([event(6), event(1)]), // a republished event is still appended once
      ]);
      expect(transactions).toBe(2);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(6);
      expect(await verifyLedger(db, { head: { seq: 6 } })).toMatchObject({ ok: true, count: 6 });
    });
  });

  describe('the Merkle tree kept beside the chain', () => {
    beforeEach(reset);

    it('has, after appends in batches of any size, the RFC 6962 root and proofs of the leaves at every size', async () => {
      let n = 0;
      for (const batch of [1, 2, 3, 1, 5, 8, 1, 13]) {
        await appendEvents(
          db,
          Array.from({ length: batch }, () => event(++n)),
          at,
        );
      }
      const { rows } = await db.query<{ entry: Uint8Array }>('SELECT entry FROM audit_ledger ORDER BY seq');
      const leaves = rows.map((r) => leafHash(new Uint8Array(r.entry)));
      expect(leaves).toHaveLength(34);
      await db.transaction(async (tx) => {
        const read = nodeReader(tx);
        for (let size = 1; size <= 34; size++) {
          const root = rootOf(leaves.slice(0, size));
          expect(Buffer.from(await rootAt(size, read)), `size ${size}`).toEqual(Buffer.from(root));
          for (const index of [0, size >> 1, size - 1]) {
            const proof = await proveInclusion(index, size, read);
            expect(() => verifyInclusion(leaves[index]!, index, size, proof, root)).not.toThrow();
          }
          const proof = await proveConsistency(Math.ceil(size / 3), size, read);
          expect(() =>
            verifyConsistency(
              Math.ceil(size / 3),
              size,
              proof,
              rootOf(leaves.slice(0, Math.ceil(size / 3))),
              root,
            ),
          ).not.toThrow();
        }
      });
    });
  });

  describe('tampering found by the verifier', () => {
    const kms = new LocalKms(generateMasterKey());
    let signer: CheckpointSigner;
    const sign = () =>
      db.transaction((tx) => signCheckpoint(tx, { signer, topic: 'us.audit.checkpoints.v1', at }));
    const verify = () => verifyLedger(db, { keys: [signer.verifierKey] });

    beforeAll(async () => {
      signer = checkpointSigner('audit.massivesms.example/us', await kms.signingKey('test'));
    });
    beforeEach(async () => {
      await reset();
      await appendEvents(db, [event(1), event(2), event(3)], at);
      await sign();
      await appendEvents(db, [event(4), event(5), event(6)], at);
      await sign();
      expect(await verify()).toMatchObject({ ok: true, count: 6, checkpoints: 2, lastCheckpoint: 6 });
    });

    it('an edited field of one row', async () => {
      await tamper(
        `UPDATE audit_ledger SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'telnyx', 'twilio'), 'UTF8') WHERE seq = 3`,
      );
      expect(await verify()).toMatchObject({ ok: false, seq: 3, reason: 'hash_mismatch' });
    });

    it('an edited row whose chain hashes were all recomputed: the signed checkpoint still names it', async () => {
      await tamper(
        `UPDATE audit_ledger SET entry = convert_to(replace(convert_from(entry, 'UTF8'), 'telnyx', 'twilio'), 'UTF8') WHERE seq = 2`,
      );
      const { rows } = await db.query<{ seq: string; entry: Uint8Array }>(
        'SELECT seq, entry FROM audit_ledger ORDER BY seq',
      );
      let previous = GENESIS_HASH;
      for (const r of rows) {
        previous = chainHash(previous, new Uint8Array(r.entry));
        await tamper(
          `UPDATE audit_ledger SET chain_hash = '\\x${Buffer.from(previous).toString('hex')}' WHERE seq = ${r.seq}`,
        );
      }
      expect(await verify()).toMatchObject({ ok: false, seq: 3, reason: 'checkpoint_root' });
    });

    it('a deleted middle row', async () => {
      await tamper('DELETE FROM audit_ledger WHERE seq = 4');
      expect(await verify()).toMatchObject({ ok: false, seq: 4, reason: 'seq_break' });
    });

    it('dropped last rows: found against the last signed checkpoint, with no outside anchor', async () => {
      await tamper('DELETE FROM audit_ledger WHERE seq >= 5');
      expect(await verify()).toMatchObject({ ok: false, seq: 5, reason: 'missing_tail' });
    });

    it('two rows swapped', async () => {
      // The two rows trade places: 2 goes to 5 and 5 to 2 (through a free seq, one step at a time).
      await tamper('UPDATE audit_ledger SET seq = 100 WHERE seq = 2');
      await tamper('UPDATE audit_ledger SET seq = 2 WHERE seq = 5');
      await tamper('UPDATE audit_ledger SET seq = 5 WHERE seq = 100');
      expect(await verify()).toMatchObject({ ok: false, seq: 2 });
    });

    it('a replaced checkpoint signature', async () => {
      const stranger = checkpointSigner('audit.massivesms.example/us', await kms.signingKey('someone else'));
      const { rows } = await db.query<{ note: string }>(
        'SELECT note FROM audit_checkpoints WHERE tree_size = 3',
      );
      const text = rows[0]!.note.slice(0, rows[0]!.note.lastIndexOf('\n\n') + 1);
      const forged = await signNoteWith(text, stranger);
      await tamper(`UPDATE audit_checkpoints SET note = '${forged}' WHERE tree_size = 3`);
      expect(await verify()).toMatchObject({ ok: false, seq: 3, reason: 'checkpoint_signature' });
    });

    it('a checkpoint of a forked tree: same size, another root, under our own signature', async () => {
      const fork = new Uint8Array(32).fill(7);
      const note = await signNoteWith(
        formatCheckpoint({ origin: signer.name, size: 6, rootHash: fork }),
        signer,
      );
      await tamper(
        `UPDATE audit_checkpoints SET note = '${note}', root_hash = '\\x${Buffer.from(fork).toString('hex')}' WHERE tree_size = 6`,
      );
      expect(await verify()).toMatchObject({ ok: false, seq: 6, reason: 'checkpoint_root' });
    });
  });
});
