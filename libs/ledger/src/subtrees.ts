/**
 * Proofs and roots from stored subtree hashes, for a ledger too large to load.
 *
 * The choice: store the hash of every *complete* subtree, one row per node, keyed (level, index):
 * node (level, index) is the root of the perfect tree over leaves [index·2^level, (index+1)·2^level).
 * Level 0 holds the leaf hashes (a service may read those from the ledger rows instead).
 *
 * Why this and not something cleverer:
 * - A complete subtree never changes once its last leaf is appended, so the table is append-only like
 *   the ledger itself (same trigger, same INSERT-only role); no row is ever updated.
 * - Appending needs no reads: the "compact range" (the roots of the at most log2(n)+1 complete subtrees
 *   covering [0, n)) is kept in memory and tells which nodes each new leaf completes (appendLeaf).
 * - Every hash in an RFC 6962 proof is the hash of some subtree [start, end) of the RFC tree; the
 *   planners below name those ranges without touching data, and each range splits into complete
 *   subtrees (rangeNodes). Only one range per proof can be incomplete (the first right sibling on the
 *   right edge), so an inclusion or consistency proof reads O(log n) nodes, at most 2·log2(n) (≈ 31
 *   rows for 10^7 leaves in practice), fetched in one query by (level, index).
 * - It costs about one extra row per leaf (n/2 + n/4 + … ≈ n nodes above level 0), i.e. ≈ 10^7 rows
 *   of (int, bigint, 32-byte hash) for 10^7 entries. Storing only every k-th level ("tiles", as
 *   C2SP tlog-tiles does) would cut that, at the price of reading and hashing up to 2^k leaves per
 *   proof element; not needed at our sizes.
 */

import { ProofError } from './errors.ts';
import { EMPTY_ROOT, nodeHash, splitPoint } from './merkle.ts';

/** A complete subtree: the leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A run of leaves [start, end) whose RFC 6962 subtree hash is one element of a proof. */
export interface LeafRange {
  readonly start: number;
  readonly end: number;
}

/** A node hash to store. */
export interface StoredNode extends NodeId {
  readonly hash: Uint8Array;
}

/**
 * Reads node hashes, answering in the order asked; throws if one is missing. Typically one query:
 * `SELECT … FROM ledger_nodes JOIN unnest($1::int[], $2::bigint[]) WITH ORDINALITY …`.
 */
export type NodeReader = (ids: readonly NodeId[]) => Promise<readonly Uint8Array[]> | readonly Uint8Array[];

/** The ranges whose hashes form the inclusion proof of leaf `index` in a tree of `size` (PATH of RFC 6962). */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  checkSize(size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new ProofError('index_out_of_range', `index ${index} is not in a tree of size ${size}`);
  }
  const out: LeafRange[] = [];
  const walk = (start: number, end: number): void => {
    if (end - start <= 1) return;
    const k = splitPoint(end - start);
    if (index < start + k) {
      walk(start, start + k);
      out.push({ start: start + k, end });
    } else {
      walk(start + k, end);
      out.push({ start, end: start + k });
    }
  };
  walk(0, size);
  return out;
}

/** The ranges whose hashes form the consistency proof from size m to size n (SUBPROOF of RFC 6962). */
export function consistencyProofRanges(m: number, n: number): LeafRange[] {
  checkSize(n);
  if (!Number.isSafeInteger(m) || m < 0 || m > n) {
    throw new ProofError('sizes_out_of_order', `cannot prove size ${m} consistent with size ${n}`);
  }
  const out: LeafRange[] = [];
  const walk = (start: number, end: number, complete: boolean): void => {
    if (m === end) {
      if (!complete) out.push({ start, end });
      return;
    }
    const k = splitPoint(end - start);
    if (m <= start + k) {
      walk(start, start + k, complete);
      out.push({ start: start + k, end });
    } else {
      walk(start + k, end, false);
      out.push({ start, end: start + k });
    }
  };
  if (m > 0 && m < n) walk(0, n, true);
  return out;
}

/**
 * The complete subtrees that make up [start, end), left to right, largest first. For a subtree of the
 * RFC 6962 tree (any range the planners return, or [0, size)) its hash is these nodes' hashes folded
 * from the right: hashFromNodes.
 */
export function rangeNodes(start: number, end: number): NodeId[] {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`[${start}, ${end}) is not a leaf range`);
  }
  const out: NodeId[] = [];
  let at = start;
  while (at < end) {
    // The largest aligned power-of-two block starting at `at` that fits.
    let width = 1;
    let level = 0;
    while (at % (width * 2) === 0 && at + width * 2 <= end) {
      width *= 2;
      level++;
    }
    out.push({ level, index: at / width });
    at += width;
  }
  return out;
}

/** Hash of a right-edge subtree from its complete parts (as rangeNodes lists them): h0 ⊕ (h1 ⊕ (… ⊕ hk)). */
export function hashFromNodes(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return Uint8Array.from(EMPTY_ROOT);
  let hash = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) hash = nodeHash(hashes[i]!, hash);
  return hash;
}

/** Distinct nodes needed to hash all `ranges`, for a single read. */
export function nodesForRanges(ranges: readonly LeafRange[]): NodeId[] {
  const seen = new Map<string, NodeId>();
  for (const range of ranges) {
    for (const id of rangeNodes(range.start, range.end)) seen.set(nodeKey(id), id);
  }
  return [...seen.values()];
}

/** A stable map key for a node. */
export function nodeKey(id: NodeId): string {
  return `${id.level}/${id.index}`;
}

/** Hashes each range from stored nodes, reading all of them at once. */
export async function hashRanges(ranges: readonly LeafRange[], read: NodeReader): Promise<Uint8Array[]> {
  const ids = nodesForRanges(ranges);
  const hashes = await read(ids);
  if (hashes.length !== ids.length)
    throw new Error(`node reader returned ${hashes.length} hashes for ${ids.length} nodes`);
  const byKey = new Map(ids.map((id, i) => [nodeKey(id), hashes[i]!]));
  return ranges.map((range) =>
    hashFromNodes(rangeNodes(range.start, range.end).map((id) => byKey.get(nodeKey(id))!)),
  );
}

/** The inclusion proof of leaf `index` in the tree of `size`, from stored nodes. */
export function proveInclusion(index: number, size: number, read: NodeReader): Promise<Uint8Array[]> {
  return hashRanges(inclusionProofRanges(index, size), read);
}

/** The consistency proof from size m to size n, from stored nodes. */
export function proveConsistency(m: number, n: number, read: NodeReader): Promise<Uint8Array[]> {
  return hashRanges(consistencyProofRanges(m, n), read);
}

/** The root of the tree of `size` leaves, from stored nodes (at most log2(size)+1 reads). */
export async function rootAt(size: number, read: NodeReader): Promise<Uint8Array> {
  checkSize(size);
  return (await compactRangeAt(size, read)).root;
}

/**
 * The right edge of the tree of `size` leaves: the hashes of rangeNodes(0, size), largest first.
 * Enough to append further leaves and to compute the root, without any other node.
 */
export class CompactRange {
  readonly size: number;
  readonly hashes: readonly Uint8Array[];

  constructor(size: number, hashes: readonly Uint8Array[]) {
    checkSize(size);
    const expected = rangeNodes(0, size).length;
    if (hashes.length !== expected)
      throw new RangeError(`a tree of ${size} leaves has ${expected} edge nodes, got ${hashes.length}`);
    this.size = size;
    this.hashes = hashes;
  }

  /** The empty tree. */
  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** MTH of the first `size` leaves. */
  get root(): Uint8Array {
    return hashFromNodes(this.hashes);
  }

  /**
   * Appends one leaf. Returns the new range and every node the leaf completed (the leaf itself at
   * level 0, then each parent up the right edge): exactly the rows to INSERT, in the same transaction
   * as the ledger row.
   */
  append(leafHash: Uint8Array): { range: CompactRange; nodes: StoredNode[] } {
    const hashes = [...this.hashes];
    let hash = leafHash;
    let level = 0;
    let index = this.size;
    const nodes: StoredNode[] = [{ level, index, hash }];
    // A node with an odd index is a right child: with its left sibling (the last edge node) it completes its parent.
    while (index % 2 === 1) {
      hash = nodeHash(hashes.pop()!, hash);
      level++;
      index = (index - 1) / 2;
      nodes.push({ level, index, hash });
    }
    hashes.push(hash);
    return { range: new CompactRange(this.size + 1, hashes), nodes };
  }
}

/** Loads the compact range of the tree of `size` leaves (e.g. at service start). */
export async function compactRangeAt(size: number, read: NodeReader): Promise<CompactRange> {
  const ids = rangeNodes(0, size);
  return new CompactRange(size, ids.length === 0 ? [] : await read(ids));
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new ProofError('bad_size', `${size} is not a tree size`);
}
