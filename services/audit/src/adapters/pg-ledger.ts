// The ledger table (migration 0001) behind the audit service: appends processing events once each,
// in one gap-free, hash-chained sequence, and verifies the chain as an auditor would.
import { fileURLToPath } from 'node:url';
import type { ProcessingEvent } from '@massivesms/contracts';
import type { Db } from '@massivesms/db';
import {
  type ChainResult,
  ChainVerifier,
  canonicalBytes,
  chainHash,
  GENESIS_HASH,
  leafHash,
} from '@massivesms/ledger';

/** Folder of the audit service's migrations. */
export const auditMigrations = {
  service: 'audit',
  dir: fileURLToPath(new URL('../../migrations/', import.meta.url)),
};

/** The role appends write as: INSERT and SELECT on the ledger, nothing else (migration 0001). */
export const AUDIT_WRITER_ROLE = 'massivesms_audit_writer';

/**
 * Appends the events not in the ledger yet (by event id; a republished event is the same event), in
 * the order given, in one transaction under the writer role: the next sequence numbers, each entry's
 * canonical bytes, leaf hash and chain hash. One appender at a time per ledger (an advisory lock),
 * so the sequence has no gaps and the chain no forks. Returns how many were appended.
 */
export async function appendEvents(db: Db, events: readonly ProcessingEvent[], at: Date): Promise<number> {
  const unique = [...new Map(events.map((e) => [e.eventId, e])).values()];
  if (unique.length === 0) return 0;
  return db.transaction(async (tx) => {
    await tx.query(`SET LOCAL ROLE ${AUDIT_WRITER_ROLE}`);
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_ledger'))`);
    const { rows: seen } = await tx.query<{ event_id: string }>(
      'SELECT event_id FROM audit_ledger WHERE event_id = ANY($1::text[])',
      [unique.map((e) => e.eventId)],
    );
    const known = new Set(seen.map((r) => r.event_id));
    const fresh = unique.filter((e) => !known.has(e.eventId));
    if (fresh.length === 0) return 0;
    const { rows: last } = await tx.query<{ seq: string; chain_hash: Uint8Array }>(
      'SELECT seq, chain_hash FROM audit_ledger ORDER BY seq DESC LIMIT 1',
    );
    let seq = Number(last[0]?.seq ?? 0);
    let previous: Uint8Array = last[0] ? new Uint8Array(last[0].chain_hash) : GENESIS_HASH;
    const rows = fresh.map((event) => {
      const entry = canonicalBytes(event);
      previous = chainHash(previous, entry);
      return { seq: ++seq, event, entry, leaf: leafHash(entry), chain: previous };
    });
    await tx.query(
      `INSERT INTO audit_ledger (seq, event_id, controller_id, occurred_at, appended_at, entry, leaf_hash, chain_hash)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                            $6::bytea[], $7::bytea[], $8::bytea[])`,
      [
        rows.map((r) => r.seq),
        rows.map((r) => r.event.eventId),
        rows.map((r) => r.event.controllerId ?? null),
        rows.map((r) => r.event.occurredAt),
        rows.map(() => at),
        rows.map((r) => Buffer.from(r.entry)),
        rows.map((r) => Buffer.from(r.leaf)),
        rows.map((r) => Buffer.from(r.chain)),
      ],
    );
    return rows.length;
  });
}

/**
 * Verifies the chain, in pages (a ledger of millions of rows is never held in memory): the first
 * bad sequence number and why, or ok. `from`: start at this seq, taking the stored chain hash of the
 * entry before it as given (default: from the first entry). `head`: the last entry the ledger must
 * hold (from a signed checkpoint: its seq, and its chain hash if known), so dropped last rows are
 * found too.
 */
export async function verifyLedger(
  db: Db,
  options: { from?: number; head?: { seq: number; hash?: Uint8Array }; pageSize?: number } = {},
): Promise<ChainResult> {
  const from = options.from ?? 1;
  let prevHash: Uint8Array | undefined;
  if (from > 1) {
    const { rows } = await db.query<{ chain_hash: Uint8Array }>(
      'SELECT chain_hash FROM audit_ledger WHERE seq = $1',
      [from - 1],
    );
    if (!rows[0])
      return { ok: false, seq: from - 1, reason: 'seq_break', message: `entry ${from - 1} is missing` };
    prevHash = new Uint8Array(rows[0].chain_hash);
  }
  const verifier = new ChainVerifier({
    firstSeq: from,
    ...(prevHash ? { prevHash } : {}),
    ...(options.head ? { head: options.head } : {}),
  });
  const pageSize = options.pageSize ?? 5_000;
  // Pages by row position, not by seq: a deleted or reordered row must reach the verifier as it is.
  for (let offset = 0; ; offset += pageSize) {
    const { rows } = await db.query<{ seq: string; entry: Uint8Array; chain_hash: Uint8Array }>(
      'SELECT seq, entry, chain_hash FROM audit_ledger WHERE seq >= $3 ORDER BY seq LIMIT $1 OFFSET $2',
      [pageSize, offset, from],
    );
    for (const r of rows) {
      const stop = verifier.push({
        seq: Number(r.seq),
        bytes: new Uint8Array(r.entry),
        hash: new Uint8Array(r.chain_hash),
      });
      if (stop) return verifier.end();
    }
    if (rows.length < pageSize) return verifier.end();
  }
}
