// The Merkle tree over the ledger (migration 0002): leaves are audit_ledger.leaf_hash (leaf index =
// seq − 1), complete subtrees above them are audit_tree_nodes rows. Appends add the nodes a batch
// completes; signed checkpoints name the root at a size; proofs read O(log n) nodes.
import type { AuditCheckpoint } from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';
import {
  type CompactRange,
  compactRangeAt,
  formatCheckpoint,
  type NodeId,
  type NodeReader,
  type RemoteNoteSigner,
  rootAt,
  signNoteWith,
  toBase64,
  verifierKey,
} from '@massivesms/ledger';
import { writeOutbox } from '@massivesms/outbox';

/** The outbox table that publishes checkpoints to `{cell}.audit.checkpoints.v1`. */
export const AUDIT_OUTBOX = 'audit_outbox';

/** Reads node hashes in one query: level 0 from the ledger rows, higher levels from audit_tree_nodes. */
export function nodeReader(tx: DbTx): NodeReader {
  return async (ids: readonly NodeId[]) => {
    if (ids.length === 0) return [];
    const { rows } = await tx.query<{ ord: string; hash: Uint8Array }>(
      `SELECT q.ord, COALESCE(n.hash, l.leaf_hash) AS hash
         FROM unnest($1::int[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
         LEFT JOIN audit_tree_nodes n ON q.level > 0 AND n.level = q.level AND n.idx = q.idx
         LEFT JOIN audit_ledger l ON q.level = 0 AND l.seq = q.idx + 1
        ORDER BY q.ord`,
      [ids.map((id) => id.level), ids.map((id) => id.index)],
    );
    return rows.map((row, i) => {
      if (!row.hash) {
        const id = ids[i]!;
        throw new Error(`tree node ${id.level}/${id.index} is missing`);
      }
      return new Uint8Array(row.hash);
    });
  };
}

/** The right edge of the tree over the first `size` entries (at most log2(size)+1 node reads). */
export function treeEdgeAt(tx: DbTx, size: number): Promise<CompactRange> {
  return compactRangeAt(size, nodeReader(tx));
}

/** What signs checkpoints: the log's origin (also the key name) and the KMS-held key. */
export interface CheckpointSigner extends RemoteNoteSigner {
  /** The signed-note verifier key to publish: `<name>+<key id>+<base64(0x01 ‖ key)>`. */
  readonly verifierKey: string;
}

/** A checkpoint signer named after the log's origin, around a KMS signing key. */
export function checkpointSigner(
  origin: string,
  key: { readonly publicKey: Uint8Array; sign(message: Uint8Array): Promise<Uint8Array> },
): CheckpointSigner {
  return {
    name: origin,
    publicKey: key.publicKey,
    sign: (message) => key.sign(message),
    verifierKey: verifierKey(origin, key.publicKey),
  };
}

/**
 * Signs a checkpoint of the whole ledger, if it grew since the last one: inside `tx` (which holds the
 * appenders' lock, so the size cannot move), stores the signed note and its Kafka record together.
 * Returns the checkpoint, or undefined when there is nothing new to sign.
 */
export async function signCheckpoint(
  tx: DbTx,
  options: { signer: CheckpointSigner; topic: string; at: Date },
): Promise<AuditCheckpoint | undefined> {
  const { rows } = await tx.query<{ size: string; signed: string }>(
    `SELECT (SELECT COALESCE(max(seq), 0) FROM audit_ledger) AS size,
            (SELECT COALESCE(max(tree_size), 0) FROM audit_checkpoints) AS signed`,
  );
  const size = Number(rows[0]!.size);
  if (size === 0 || size <= Number(rows[0]!.signed)) return undefined;
  const rootHash = await rootAt(size, nodeReader(tx));
  const note = await signNoteWith(
    formatCheckpoint({ origin: options.signer.name, size, rootHash }),
    options.signer,
  );
  const checkpoint: AuditCheckpoint = {
    origin: options.signer.name,
    treeSize: size,
    rootHash: toBase64(rootHash),
    note,
    verifierKey: options.signer.verifierKey,
    signedAt: options.at.toISOString(),
  };
  await tx.query(
    'INSERT INTO audit_checkpoints (tree_size, root_hash, note, verifier_key, signed_at) VALUES ($1, $2, $3, $4, $5)',
    [size, Buffer.from(rootHash), note, options.signer.verifierKey, options.at],
  );
  await writeOutbox(tx, AUDIT_OUTBOX, [
    { topic: options.topic, key: checkpoint.origin, value: Buffer.from(JSON.stringify(checkpoint)) },
  ]);
  return checkpoint;
}

/** A stored checkpoint row. */
export interface StoredCheckpoint {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
  readonly verifierKey: string;
  readonly signedAt: Date;
}

/** Checkpoints with tree_size in [from, to], oldest first, at most `limit`. */
export async function readCheckpoints(
  tx: DbTx,
  range: { from?: number; to?: number; limit?: number; newestFirst?: boolean } = {},
): Promise<StoredCheckpoint[]> {
  const { rows } = await tx.query<{
    tree_size: string;
    root_hash: Uint8Array;
    note: string;
    verifier_key: string;
    signed_at: Date;
  }>(
    `SELECT tree_size, root_hash, note, verifier_key, signed_at FROM audit_checkpoints
      WHERE tree_size >= $1 AND tree_size <= $2
      ORDER BY tree_size ${range.newestFirst ? 'DESC' : 'ASC'} LIMIT $3`,
    [range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER, range.limit ?? 1_000],
  );
  return rows.map((r) => ({
    treeSize: Number(r.tree_size),
    rootHash: new Uint8Array(r.root_hash),
    note: r.note,
    verifierKey: r.verifier_key,
    signedAt: r.signed_at,
  }));
}
