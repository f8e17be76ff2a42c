// The ledger table (migration 0001) behind the audit service: appends processing events once each,
// in one gap-free, hash-chained sequence, and verifies the chain as an auditor would.
import { fileURLToPath } from 'node:url';
import type { ProcessingEvent } from '@massivesms/contracts';
import { type Db, type DbTx, StatementCoalescer } from '@massivesms/db';
import {
  bytesEqual,
  type ChainFailureReason,
  ChainVerifier,
  type Checkpoint,
  type CompactRange,
  canonicalBytes,
  chainHash,
  GENESIS_HASH,
  leafHash,
  parseCheckpoint,
  type StoredNode,
  verifyNote,
} from '@massivesms/ledger';
import { readCheckpoints, type StoredCheckpoint, treeEdgeAt } from './pg-tree.ts';

/** Folder of the audit service's migrations. */
export const auditMigrations = {
  service: 'audit',
  dir: fileURLToPath(new URL('../../migrations/', import.meta.url)),
};

/** The role appends write as: INSERT and SELECT on the ledger, nothing else (migration 0001). */
export const AUDIT_WRITER_ROLE = 'massivesms_audit_writer';

/**
 * Takes the appenders' lock of the ledger, and the writer role (INSERT and SELECT only) for the rest
 * of the transaction, in one statement. The lock is held until the transaction ends; statements after
 * this one see everything the previous holder committed.
 */
export async function lockLedger(tx: DbTx): Promise<void> {
  await tx.query(
    `SELECT set_config('role', '${AUDIT_WRITER_ROLE}', true),
            pg_advisory_xact_lock(hashtext(current_schema() || '.audit_ledger'))`,
  );
}

/** The head this process appended last per ledger (Db), with the tree edge it ends (see appendEvents). */
const lastAppended = new WeakMap<Db, { seq: number; chain: Uint8Array; edge: CompactRange }>();

/**
 * Appends the events not in the ledger yet (by event id; a republished event is the same event), in
 * the order given, in one transaction under the writer role: the next sequence numbers, each entry's
 * canonical bytes, leaf hash and chain hash, and the Merkle tree nodes the new leaves complete. One
 * appender at a time per ledger (an advisory lock), so the sequence has no gaps and the chain no forks.
 * Returns how many were appended.
 *
 * Five statements per batch, whatever its size (BEGIN, lock, state, insert, COMMIT): the events
 * already in and the head are read together; ledger rows and tree nodes are inserted together; the
 * tree's right edge is read from the nodes only when the head is not the one this process appended
 * last (another appender, or a restart): the chain hash commits to every entry before it, so the same
 * head means the same tree.
 */
export async function appendEvents(db: Db, events: readonly ProcessingEvent[], at: Date): Promise<number> {
  const unique = [...new Map(events.map((e) => [e.eventId, e])).values()];
  if (unique.length === 0) return 0;
  let appended: { seq: number; chain: Uint8Array; edge: CompactRange } | undefined;
  const count = await db.transaction(async (tx) => {
    await lockLedger(tx);
    const { rows: state } = await tx.query<{
      seen: string[];
      seq: string | null;
      chain_hash: Uint8Array | null;
    }>(
      `SELECT ARRAY(SELECT event_id FROM audit_ledger WHERE event_id = ANY($1::text[])) AS seen, h.seq, h.chain_hash
         FROM (SELECT 1) AS one
         LEFT JOIN LATERAL (SELECT seq, chain_hash FROM audit_ledger ORDER BY seq DESC LIMIT 1) AS h ON true`,
      [unique.map((e) => e.eventId)],
    );
    const head = state[0]!;
    const known = new Set(head.seen);
    const fresh = unique.filter((e) => !known.has(e.eventId));
    if (fresh.length === 0) return 0;
    let seq = Number(head.seq ?? 0);
    let previous: Uint8Array = head.chain_hash ? new Uint8Array(head.chain_hash) : GENESIS_HASH;
    const mine = lastAppended.get(db);
    let edge =
      mine && mine.seq === seq && bytesEqual(mine.chain, previous) ? mine.edge : await treeEdgeAt(tx, seq);
    const nodes: StoredNode[] = [];
    const rows = fresh.map((event) => {
      const entry = canonicalBytes(event);
      const leaf = leafHash(entry);
      previous = chainHash(previous, entry);
      const appended = edge.append(leaf);
      edge = appended.range;
      nodes.push(...appended.nodes);
      return { seq: ++seq, event, entry, leaf, chain: previous };
    });
    const upper = nodes.filter((n) => n.level > 0); // level 0 is the ledger rows' leaf_hash
    await tx.query(
      `WITH entries AS (
         INSERT INTO audit_ledger (seq, event_id, controller_id, occurred_at, appended_at, entry, leaf_hash,
                                   chain_hash, service, subprocessor)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                              $6::bytea[], $7::bytea[], $8::bytea[], $12::text[], $13::text[])
       ), tree AS (
         INSERT INTO audit_tree_nodes (level, idx, hash)
         SELECT * FROM unnest($9::smallint[], $10::bigint[], $11::bytea[])
       )
       SELECT 1`,
      [
        rows.map((r) => r.seq),
        rows.map((r) => r.event.eventId),
        rows.map((r) => r.event.controllerId ?? null),
        rows.map((r) => r.event.occurredAt),
        rows.map(() => at),
        rows.map((r) => Buffer.from(r.entry)),
        rows.map((r) => Buffer.from(r.leaf)),
        rows.map((r) => Buffer.from(r.chain)),
        upper.map((n) => n.level),
        upper.map((n) => n.index),
        upper.map((n) => Buffer.from(n.hash)),
        // Copies of the event's fields a breach is scoped by (migration 0003), for their indexes.
        rows.map((r) => r.event.service),
        rows.map((r) => r.event.subprocessor ?? null),
      ],
    );
    appended = { seq, chain: previous, edge };
    return rows.length;
  });
  // Only once committed: a rolled-back append must not be taken for the head.
  if (appended) lastAppended.set(db, appended);
  return count;
}

/**
 * appendEvents for batches handled concurrently (one per partition): appends take the ledger's lock
 * one at a time, so the batches that arrive while one append runs go together in the next (one
 * transaction, five statements), and each call resolves once its events are committed (a failure
 * rejects every call of that append, and their batches are retried). The first call of a merged
 * append gets its count, the others 0 (the total is right; it feeds metrics only).
 */
export function mergingAppends(
  db: Db,
  now: () => Date,
  options: { maxCalls?: number } = {},
): (events: readonly ProcessingEvent[]) => Promise<number> {
  let calls = 0;
  const coalescer = new StatementCoalescer<readonly ProcessingEvent[], number>(
    async (batches) => {
      const count = await appendEvents(db, batches.flat(), now());
      return batches.map((_, i) => (i === 0 ? count : 0));
    },
    { key: () => String(++calls), maxInFlight: 1, maxBatch: options.maxCalls ?? 8 },
  );
  return (events) => coalescer.run(events);
}

/** Why verification failed: the chain's reasons, or a signed checkpoint that does not hold. */
export type LedgerFailureReason = ChainFailureReason | 'checkpoint_root' | 'checkpoint_signature';

/** The verdict on a ledger: intact (with what was checked), or the first bad sequence number and why. */
export type LedgerVerification =
  | {
      readonly ok: true;
      readonly count: number;
      readonly lastSeq: number;
      readonly lastHash: Uint8Array;
      /** Signed checkpoints whose root was recomputed from the entries (and signature checked, with keys). */
      readonly checkpoints: number;
      readonly lastCheckpoint: number | null;
      readonly signaturesChecked: boolean;
    }
  | {
      readonly ok: false;
      readonly seq: number;
      readonly reason: LedgerFailureReason;
      readonly message: string;
    };

/**
 * Verifies the ledger as an auditor would, in pages (a ledger of millions of rows is never held in
 * memory): the hash chain from the stored bytes, a gap-free sequence, and every signed checkpoint,
 * whose root is recomputed from the entries' bytes and whose signature is checked against `keys`
 * (the published verifier keys; without them roots are still checked, signatures are not). The last
 * checkpoint is the head the ledger must reach, so rows dropped from its end are found.
 * `from`: start at this seq, trusting the chain hash and tree nodes stored before it.
 * `head`: a head known from outside (an auditor's last seen seq and hash).
 */
export async function verifyLedger(
  db: Db,
  options: {
    from?: number;
    head?: { seq: number; hash?: Uint8Array };
    keys?: readonly string[];
    pageSize?: number;
  } = {},
): Promise<LedgerVerification> {
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
  const [newest] = await readCheckpoints(db, { newestFirst: true, limit: 1 });
  const lastCheckpoint = newest?.treeSize ?? null;
  const head =
    options.head && (lastCheckpoint === null || options.head.seq >= lastCheckpoint)
      ? options.head
      : lastCheckpoint !== null
        ? { seq: lastCheckpoint }
        : undefined;
  const verifier = new ChainVerifier({
    firstSeq: from,
    ...(prevHash ? { prevHash } : {}),
    ...(head ? { head } : {}),
  });
  const checkpoints = new CheckpointCursor(db, from);
  let edge = await treeEdgeAt(db, from - 1).catch(() => undefined);
  if (!edge)
    return {
      ok: false,
      seq: from - 1,
      reason: 'checkpoint_root',
      message: `tree nodes before seq ${from} are missing`,
    };
  let checked = 0;
  const pageSize = options.pageSize ?? 5_000;
  const done = (): LedgerVerification => {
    const chain = verifier.end();
    return chain.ok
      ? { ...chain, checkpoints: checked, lastCheckpoint, signaturesChecked: options.keys !== undefined }
      : chain;
  };
  // Pages by row position, not by seq: a deleted or reordered row must reach the verifier as it is.
  for (let offset = 0; ; offset += pageSize) {
    const { rows } = await db.query<{ seq: string; entry: Uint8Array; chain_hash: Uint8Array }>(
      'SELECT seq, entry, chain_hash FROM audit_ledger WHERE seq >= $3 ORDER BY seq LIMIT $1 OFFSET $2',
      [pageSize, offset, from],
    );
    for (const r of rows) {
      const seq = Number(r.seq);
      const bytes = new Uint8Array(r.entry);
      if (verifier.push({ seq, bytes, hash: new Uint8Array(r.chain_hash) })) return done();
      edge = edge.append(leafHash(bytes)).range;
      for (let cp = await checkpoints.at(seq); cp; cp = await checkpoints.at(seq)) {
        const failure = checkCheckpoint(cp, edge.root, options.keys);
        if (failure) return { ok: false, seq, reason: failure.reason, message: failure.message };
        checked++;
      }
    }
    if (rows.length < pageSize) return done();
  }
}

/** Checks one signed checkpoint against the root recomputed from the entries. */
function checkCheckpoint(
  cp: StoredCheckpoint,
  root: Uint8Array,
  keys: readonly string[] | undefined,
): { reason: LedgerFailureReason; message: string } | undefined {
  const at = `checkpoint at tree size ${cp.treeSize}`;
  if (!bytesEqual(cp.rootHash, root))
    return {
      reason: 'checkpoint_root',
      message: `${at}: its root is not the root of entries 1…${cp.treeSize}`,
    };
  let signed: Checkpoint;
  try {
    signed = keys
      ? verifyNote(cp.note, keys)
      : parseCheckpoint(cp.note.slice(0, cp.note.lastIndexOf('\n\n') + 1));
  } catch (error) {
    return { reason: 'checkpoint_signature', message: `${at}: ${(error as Error).message}` };
  }
  if (signed.size !== cp.treeSize || !bytesEqual(signed.rootHash, root))
    return { reason: 'checkpoint_root', message: `${at}: the signed note names another size or root` };
  return undefined;
}

/** Walks the checkpoints in tree-size order alongside the entries, a page at a time. */
class CheckpointCursor {
  #page: StoredCheckpoint[] = [];
  #next: number;
  #exhausted = false;
  readonly #db: Db;
  constructor(db: Db, from: number) {
    this.#db = db;
    this.#next = from;
  }

  /** The next checkpoint if it is at `seq` (consumed), else undefined. */
  async at(seq: number): Promise<StoredCheckpoint | undefined> {
    if (this.#page.length === 0 && !this.#exhausted) {
      this.#page = await readCheckpoints(this.#db, { from: this.#next, limit: 1_000 });
      this.#exhausted = this.#page.length < 1_000;
    }
    const cp = this.#page[0];
    if (!cp || cp.treeSize !== seq) return undefined;
    this.#page.shift();
    this.#next = cp.treeSize + 1;
    return cp;
  }
}
