/**
 * RFC 6962 §2.1 Merkle tree hashing with the proof verifiers of RFC 9162 §2.1.3.2 and §2.1.4.2.
 *
 * The proof builders here work on an in-memory array of leaf hashes and follow the RFC's recursive
 * definitions (MTH, PATH, SUBPROOF) literally: they are the reference. A service that cannot hold all
 * leaves builds the same proofs from stored subtree hashes with ./subtrees.ts; the tests check that
 * both agree.
 *
 * Sizes and indexes are JS numbers (safe integers, up to 2^53−1). The verifiers use arithmetic halving
 * instead of `>>`, which would truncate to 32 bits.
 */
import { ProofError } from './errors.ts';
import { bytesEqual, HASH_SIZE, sha256 } from './hash.ts';

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** No valid proof is longer: 2 × 53 levels would already exceed any safe-integer tree. */
const MAX_PROOF_LENGTH = 128;

/** MTH({}) = SHA-256 of the empty string, the root of the empty tree. Do not mutate. */
export const EMPTY_ROOT: Uint8Array = sha256();

/** SHA-256(0x00 ‖ entry bytes): the prefix keeps a leaf from posing as an interior node. */
export function leafHash(entryBytes: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, entryBytes);
}

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** k in RFC 6962: the largest power of two smaller than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The Merkle tree hash of the first `size` leaf hashes (default: all of them). */
export function rootOf(leafHashes: readonly Uint8Array[], size: number = leafHashes.length): Uint8Array {
  checkTreeSize(size, leafHashes.length);
  // A copy, so a caller writing into the result cannot corrupt the shared constant.
  return size === 0 ? Uint8Array.from(EMPTY_ROOT) : mth(leafHashes, 0, size);
}

/** Inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1 PATH). */
export function inclusionProof(
  leafHashes: readonly Uint8Array[],
  index: number,
  size: number = leafHashes.length,
): Uint8Array[] {
  checkTreeSize(size, leafHashes.length);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new ProofError('index_out_of_range', `index ${index} is not in a tree of size ${size}`);
  }
  const proof: Uint8Array[] = [];
  path(leafHashes, index, 0, size, proof);
  return proof;
}

/** Consistency proof from the tree of the first `m` leaves to that of the first `n` (RFC 6962 §2.1.2 PROOF). */
export function consistencyProof(
  leafHashes: readonly Uint8Array[],
  m: number,
  n: number = leafHashes.length,
): Uint8Array[] {
  checkTreeSize(n, leafHashes.length);
  if (!Number.isSafeInteger(m) || m < 0 || m > n) {
    throw new ProofError('sizes_out_of_order', `cannot prove size ${m} consistent with size ${n}`);
  }
  const proof: Uint8Array[] = [];
  // An empty tree, or a tree and itself, need no proof.
  if (m > 0 && m < n) subproof(leafHashes, m, 0, n, true, proof);
  return proof;
}

function mth(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  if (end - start === 1) return leaves[start]!;
  const k = splitPoint(end - start);
  return nodeHash(mth(leaves, start, start + k), mth(leaves, start + k, end));
}

// PATH(m, D[start:end]), m absolute; appends the audit path from the leaf upwards.
function path(leaves: readonly Uint8Array[], m: number, start: number, end: number, out: Uint8Array[]): void {
  if (end - start <= 1) return;
  const k = splitPoint(end - start);
  if (m < start + k) {
    path(leaves, m, start, start + k, out);
    out.push(mth(leaves, start + k, end));
  } else {
    path(leaves, m, start + k, end, out);
    out.push(mth(leaves, start, start + k));
  }
}

// SUBPROOF(m, D[start:end], b), m absolute.
function subproof(
  leaves: readonly Uint8Array[],
  m: number,
  start: number,
  end: number,
  complete: boolean,
  out: Uint8Array[],
): void {
  if (m === end) {
    if (!complete) out.push(mth(leaves, start, end));
    return;
  }
  const k = splitPoint(end - start);
  if (m <= start + k) {
    subproof(leaves, m, start, start + k, complete, out);
    out.push(mth(leaves, start + k, end));
  } else {
    subproof(leaves, m, start + k, end, false, out);
    out.push(mth(leaves, start, start + k));
  }
}

/**
 * Recomputes the root from an inclusion proof, RFC 9162 §2.1.3.2 step by step. Throws ProofError when
 * index ≥ size (so also for size 0), or the proof is too long or too short for the index and size.
 */
export function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkSize(size, 'size');
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    // Step 1. This also refuses size 0: nothing is included in the empty tree.
    throw new ProofError('index_out_of_range', `index ${index} is not in a tree of size ${size}`);
  }
  checkHash(leaf, 'leaf hash');
  checkProofHashes(proof);
  let fn = index; // step 2
  let sn = size - 1;
  let r = leaf; // step 3
  for (const p of proof) {
    // step 4
    if (sn === 0)
      throw new ProofError('proof_too_long', `more than the path of leaf ${index} in a tree of size ${size}`);
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // fn is a left child with no right sibling here: climb to the level where it has one.
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // step 5
  if (sn !== 0)
    throw new ProofError('proof_too_short', `less than the path of leaf ${index} in a tree of size ${size}`);
  return r;
}

/** Throws ProofError unless `proof` shows `leaf` at `index` in the tree of `size` leaves with `root`. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkHash(root, 'root');
  const computed = rootFromInclusionProof(leaf, index, size, proof);
  if (!bytesEqual(computed, root)) {
    throw new ProofError(
      'root_mismatch',
      `leaf ${index} with this proof gives another root for size ${size}`,
    );
  }
}

/**
 * Throws ProofError unless `proof` shows the tree of size `n` with `rootN` extends the tree of size `m`
 * with `rootM`: RFC 9162 §2.1.4.2 step by step for 0 < m < n. The cases the RFC leaves out are decided
 * strictly: m = n needs an empty proof and equal roots; m = 0 needs an empty proof and rootM = EMPTY_ROOT
 * (the empty tree is a prefix of every tree, but only the real empty root may claim to be it); m > n fails.
 */
export function verifyConsistency(
  m: number,
  n: number,
  proof: readonly Uint8Array[],
  rootM: Uint8Array,
  rootN: Uint8Array,
): void {
  checkSize(m, 'first size');
  checkSize(n, 'second size');
  checkHash(rootM, 'first root');
  checkHash(rootN, 'second root');
  checkProofHashes(proof);
  if (m > n) throw new ProofError('sizes_out_of_order', `size ${m} cannot be a prefix of size ${n}`);
  if (m === n || m === 0) {
    if (proof.length > 0) throw new ProofError('proof_too_long', `sizes ${m} and ${n} need an empty proof`);
    const expected = m === 0 ? EMPTY_ROOT : rootN;
    if (!bytesEqual(rootM, expected))
      throw new ProofError('root_mismatch', `the roots of sizes ${m} and ${n} disagree`);
    return;
  }
  // 1. An empty proof cannot connect two different sizes.
  if (proof.length === 0)
    throw new ProofError('proof_too_short', `sizes ${m} and ${n} need a non-empty proof`);
  // 2. When m is a power of two, the old tree is a complete subtree of the new one: its root starts the path.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  // 3.
  let fn = m - 1;
  let sn = n - 1;
  // 4. Skip the levels where the old tree's last node is a right child of a complete subtree.
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // 6.
  for (const c of path.slice(1)) {
    if (sn === 0) throw new ProofError('proof_too_long', `more than sizes ${m} and ${n} need`);
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  if (sn !== 0) throw new ProofError('proof_too_short', `less than sizes ${m} and ${n} need`);
  if (!bytesEqual(fr, rootM))
    throw new ProofError('root_mismatch', `the proof does not lead to the root of size ${m}`);
  if (!bytesEqual(sr, rootN))
    throw new ProofError('root_mismatch', `the proof does not lead to the root of size ${n}`);
}

function half(x: number): number {
  return Math.floor(x / 2);
}

function isPowerOfTwo(x: number): boolean {
  let p = 1;
  while (p < x) p *= 2;
  return p === x;
}

function checkSize(size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new ProofError('bad_size', `${what} ${size} is not a tree size`);
}

function checkTreeSize(size: number, available: number): void {
  checkSize(size, 'size');
  if (size > available)
    throw new ProofError('bad_size', `size ${size} exceeds the ${available} leaves given`);
}

function checkHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new ProofError('bad_hash_length', `${what} is not a ${HASH_SIZE}-byte hash`);
  }
}

function checkProofHashes(proof: readonly Uint8Array[]): void {
  if (proof.length > MAX_PROOF_LENGTH) throw new ProofError('proof_too_long', `${proof.length} hashes`);
  for (const [i, hash] of proof.entries()) checkHash(hash, `proof[${i}]`);
}
