import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  ProofError,
  rootFromInclusionProof,
  rootOf,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../src/index.ts';
import {
  CONSISTENCY_CASES,
  CONSISTENCY_PROOFS,
  INCLUSION_CASES,
  INCLUSION_PROOFS,
  LEAVES_HEX,
  ROOTS_HEX,
} from './vectors.ts';

const hex = (h: string): Uint8Array => Buffer.from(h, 'hex');
const b64 = (s: string): Uint8Array => Buffer.from(s, 'base64');
const LEAF_HASHES = LEAVES_HEX.map((data) => leafHash(hex(data)));

/** Leaf hashes of a synthetic log of `n` entries (entry i is the 4-byte big-endian i). */
function syntheticLeaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const entry = Buffer.alloc(4);
    entry.writeUInt32BE(i);
    return leafHash(entry);
  });
}

function flipped(bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at]! ^= mask;
  return copy;
}

function refusesWith(fn: () => void): ProofError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProofError);
    return error as ProofError;
  }
  throw new Error('expected the proof to be refused, but it verified');
}

const SOME_HASH = hex('abacaba000000000000000000000000000000000000000000060061e00123456');

/**
 * Wrong variants of a valid inclusion proof, one per way a proof can be mishandled: the kinds that
 * transparency-dev/merkle's verify_test.go probes (index, size, leaf, root, garbage before or after,
 * each element with a bit flipped, a component removed or inserted).
 */
function inclusionMutations(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: Uint8Array[],
  root: Uint8Array,
) {
  const cases: {
    desc: string;
    leaf: Uint8Array;
    index: number;
    size: number;
    proof: Uint8Array[];
    root: Uint8Array;
  }[] = [
    { desc: 'index - 1', leaf, index: index - 1, size, proof, root },
    { desc: 'index + 1', leaf, index: index + 1, size, proof, root },
    { desc: 'index ^ 2', leaf, index: index ^ 2, size, proof, root },
    { desc: 'size * 2', leaf, index, size: size * 2, proof, root },
    { desc: 'size / 2', leaf, index, size: Math.floor(size / 2), proof, root },
    { desc: 'wrong leaf', leaf: SOME_HASH, index, size, proof, root },
    { desc: 'empty root', leaf, index, size, proof, root: EMPTY_ROOT },
    { desc: 'random root', leaf, index, size, proof, root: SOME_HASH },
    { desc: 'trailing garbage', leaf, index, size, proof: [...proof, new Uint8Array()], root },
    { desc: 'trailing root', leaf, index, size, proof: [...proof, root], root },
    { desc: 'preceding garbage', leaf, index, size, proof: [new Uint8Array(), ...proof], root },
    { desc: 'preceding root', leaf, index, size, proof: [root, ...proof], root },
  ];
  proof.forEach((_, i) => {
    cases.push({
      desc: `proof[${i}] bit flipped`,
      leaf,
      index,
      size,
      proof: proof.map((p, j) => (i === j ? flipped(p, 0, 8) : p)),
      root,
    });
  });
  if (proof.length > 0)
    cases.push({ desc: 'removed component', leaf, index, size, proof: proof.slice(0, -1), root });
  if (proof.length > 1)
    cases.push({
      desc: 'inserted component',
      leaf,
      index,
      size,
      proof: [proof[0]!, SOME_HASH, ...proof.slice(1)],
      root,
    });
  return cases;
}

function consistencyMutations(
  m: number,
  n: number,
  proof: Uint8Array[],
  rootM: Uint8Array,
  rootN: Uint8Array,
) {
  const cases: {
    desc: string;
    m: number;
    n: number;
    proof: Uint8Array[];
    rootM: Uint8Array;
    rootN: Uint8Array;
  }[] = [
    { desc: 'm - 1', m: m - 1, n, proof, rootM, rootN },
    { desc: 'm + 1', m: m + 1, n, proof, rootM, rootN },
    { desc: 'm ^ 2', m: m ^ 2, n, proof, rootM, rootN },
    { desc: 'n * 2', m, n: n * 2, proof, rootM, rootN },
    { desc: 'n / 2', m, n: Math.floor(n / 2), proof, rootM, rootN },
    { desc: 'wrong rootM', m, n, proof, rootM: SOME_HASH, rootN },
    { desc: 'wrong rootN', m, n, proof, rootM, rootN: SOME_HASH },
    { desc: 'swapped roots', m, n, proof, rootM: rootN, rootN: rootM },
    { desc: 'empty proof', m, n, proof: [], rootM, rootN },
    { desc: 'trailing garbage', m, n, proof: [...proof, new Uint8Array()], rootM, rootN },
    { desc: 'trailing rootM', m, n, proof: [...proof, rootM], rootM, rootN },
    { desc: 'trailing rootN', m, n, proof: [...proof, rootN], rootM, rootN },
    { desc: 'preceding garbage', m, n, proof: [new Uint8Array(), ...proof], rootM, rootN },
    { desc: 'preceding rootM', m, n, proof: [rootM, ...proof], rootM, rootN },
    { desc: 'preceding rootN', m, n, proof: [rootN, ...proof], rootM, rootN },
    { desc: 'preceding proof[0]', m, n, proof: [proof[0]!, ...proof], rootM, rootN },
    { desc: 'truncated proof', m, n, proof: proof.slice(0, -1), rootM, rootN },
  ];
  proof.forEach((_, i) => {
    cases.push({
      desc: `proof[${i}] bit flipped`,
      m,
      n,
      proof: proof.map((p, j) => (i === j ? flipped(p, 0, 16) : p)),
      rootM,
      rootN,
    });
  });
  return cases;
}

describe('RFC 6962 tree hashing', () => {
  it.each(ROOTS_HEX.map((root, size) => ({ size, root })))(
    'the root of the first $size known-answer leaves is $root',
    ({ size, root }) => {
      expect(toHex(rootOf(LEAF_HASHES, size))).toBe(root);
    },
  );

  it('refuses a size larger than the leaves given', () => {
    expect(refusesWith(() => rootOf(LEAF_HASHES, 9)).reason).toBe('bad_size');
  });
});

describe('inclusion proofs against transparency-dev/merkle vectors', () => {
  it.each(INCLUSION_PROOFS)(
    'builds and verifies the proof of leaf $index in a tree of $size',
    ({ index, size, proof }) => {
      const root = hex(ROOTS_HEX[size]!);
      expect(inclusionProof(LEAF_HASHES, index, size).map(toHex)).toEqual(proof);
      expect(() => verifyInclusion(LEAF_HASHES[index]!, index, size, proof.map(hex), root)).not.toThrow();
    },
  );

  it.each(INCLUSION_PROOFS)(
    'refuses every mutation of the proof of leaf $index in a tree of $size',
    ({ index, size, proof }) => {
      const cases = inclusionMutations(
        LEAF_HASHES[index]!,
        index,
        size,
        proof.map(hex),
        hex(ROOTS_HEX[size]!),
      );
      for (const c of cases) refusesWith(() => verifyInclusion(c.leaf, c.index, c.size, c.proof, c.root));
    },
  );

  it.each(INCLUSION_CASES)('testdata/inclusion/$desc', (c) => {
    const verifying = () =>
      verifyInclusion(b64(c.leafHash), c.leafIdx, c.treeSize, c.proof.map(b64), b64(c.root));
    if (c.wantErr) refusesWith(verifying);
    else expect(verifying).not.toThrow();
  });
});

describe('consistency proofs against transparency-dev/merkle vectors', () => {
  it.each(CONSISTENCY_PROOFS)('builds and verifies the proof from $m to $n', ({ m, n, proof }) => {
    expect(consistencyProof(LEAF_HASHES, m, n).map(toHex)).toEqual(proof);
    expect(() =>
      verifyConsistency(m, n, proof.map(hex), hex(ROOTS_HEX[m]!), hex(ROOTS_HEX[n]!)),
    ).not.toThrow();
  });

  it.each(CONSISTENCY_PROOFS.filter((v) => v.proof.length > 0))(
    'refuses every mutation of the proof from $m to $n',
    ({ m, n, proof }) => {
      for (const c of consistencyMutations(m, n, proof.map(hex), hex(ROOTS_HEX[m]!), hex(ROOTS_HEX[n]!))) {
        refusesWith(() => verifyConsistency(c.m, c.n, c.proof, c.rootM, c.rootN));
      }
    },
  );

  it.each(CONSISTENCY_CASES)('testdata/consistency/$desc', (c) => {
    const verifying = () => verifyConsistency(c.size1, c.size2, c.proof.map(b64), b64(c.root1), b64(c.root2));
    if (c.wantErr) refusesWith(verifying);
    else expect(verifying).not.toThrow();
  });
});

describe('verifier edge cases (RFC 9162 preconditions)', () => {
  const leaf = LEAF_HASHES[0]!;

  it('nothing is included in the empty tree, and an index must be below the size', () => {
    expect(refusesWith(() => verifyInclusion(leaf, 0, 0, [], EMPTY_ROOT)).reason).toBe('index_out_of_range');
    expect(refusesWith(() => verifyInclusion(leaf, 1, 1, [], leaf)).reason).toBe('index_out_of_range');
    expect(refusesWith(() => verifyInclusion(leaf, -1, 1, [], leaf)).reason).toBe('index_out_of_range');
    expect(refusesWith(() => verifyInclusion(leaf, 0.5, 1, [], leaf)).reason).toBe('index_out_of_range');
  });

  it('a one-leaf tree needs an empty proof and its root is the leaf hash', () => {
    expect(() => verifyInclusion(leaf, 0, 1, [], leaf)).not.toThrow();
    expect(refusesWith(() => verifyInclusion(leaf, 0, 1, [leaf], leaf)).reason).toBe('proof_too_long');
    expect(refusesWith(() => verifyInclusion(leaf, 0, 1, [], SOME_HASH)).reason).toBe('root_mismatch');
  });

  it('names a proof that is too short or too long for the index and size', () => {
    const proof = inclusionProof(LEAF_HASHES, 5, 8);
    expect(refusesWith(() => rootFromInclusionProof(LEAF_HASHES[5]!, 5, 8, proof.slice(0, 2))).reason).toBe(
      'proof_too_short',
    );
    expect(
      refusesWith(() => rootFromInclusionProof(LEAF_HASHES[5]!, 5, 8, [...proof, SOME_HASH])).reason,
    ).toBe('proof_too_long');
  });

  it('refuses hashes that are not 32 bytes, wherever they are', () => {
    expect(refusesWith(() => verifyInclusion(leaf.subarray(1), 0, 1, [], leaf)).reason).toBe(
      'bad_hash_length',
    );
    expect(refusesWith(() => verifyInclusion(leaf, 0, 1, [], leaf.subarray(1))).reason).toBe(
      'bad_hash_length',
    );
    expect(refusesWith(() => verifyConsistency(1, 2, [new Uint8Array(33)], leaf, leaf)).reason).toBe(
      'bad_hash_length',
    );
  });

  it('a tree is consistent with itself only with an empty proof and the same root', () => {
    const root = hex(ROOTS_HEX[5]!);
    expect(() => verifyConsistency(5, 5, [], root, root)).not.toThrow();
    expect(refusesWith(() => verifyConsistency(5, 5, [root], root, root)).reason).toBe('proof_too_long');
    expect(refusesWith(() => verifyConsistency(5, 5, [], root, SOME_HASH)).reason).toBe('root_mismatch');
  });

  it('the empty tree is a prefix of every tree, but only under the real empty root', () => {
    expect(() => verifyConsistency(0, 8, [], EMPTY_ROOT, hex(ROOTS_HEX[8]!))).not.toThrow();
    expect(refusesWith(() => verifyConsistency(0, 8, [], SOME_HASH, hex(ROOTS_HEX[8]!))).reason).toBe(
      'root_mismatch',
    );
    expect(
      refusesWith(() => verifyConsistency(0, 8, [SOME_HASH], EMPTY_ROOT, hex(ROOTS_HEX[8]!))).reason,
    ).toBe('proof_too_long');
  });

  it('refuses a newer size smaller than the older, and sizes that are not integers', () => {
    const root = hex(ROOTS_HEX[2]!);
    expect(refusesWith(() => verifyConsistency(2, 1, [], root, root)).reason).toBe('sizes_out_of_order');
    expect(refusesWith(() => verifyConsistency(1.5, 2, [], root, root)).reason).toBe('bad_size');
    expect(refusesWith(() => verifyConsistency(1, Number.NaN, [], root, root)).reason).toBe('bad_size');
  });

  it('refuses an empty proof between two different non-empty sizes', () => {
    expect(
      refusesWith(() => verifyConsistency(2, 5, [], hex(ROOTS_HEX[2]!), hex(ROOTS_HEX[5]!))).reason,
    ).toBe('proof_too_short');
  });
});

/**
 * Runs `attempts` and returns a description of each one that was not refused with a ProofError, so a
 * failure lists what slipped through instead of stopping at the first (and a loop of ~10^5 attempts
 * stays cheap: one expect at the end, not one per attempt).
 */
function notRefused(attempts: Iterable<[desc: string, attempt: () => void]>): string[] {
  const slipped: string[] = [];
  for (const [desc, attempt] of attempts) {
    try {
      attempt();
      slipped.push(`${desc}: verified`);
    } catch (error) {
      if (!(error instanceof ProofError)) slipped.push(`${desc}: threw ${String(error)}`);
    }
  }
  return slipped;
}

/**
 * Byte positions to flip in one hash: all 32 for trees of up to 16 leaves; for larger ones one
 * rotating position, which still reaches every position of every proof element across the sizes.
 * (A flip anywhere in an element changes the node hash it feeds completely; what matters is that
 * every element is used and every byte of a root or leaf is compared, which the exhaustive part
 * shows.) Keeps the run to a few seconds on a shared two-core machine.
 */
function positions(n: number, salt: number): number[] {
  return n <= 16 ? Array.from({ length: 32 }, (_, at) => at) : [(n * 7 + salt * 13) % 32];
}

describe('every proof of every tree of 1..64 leaves', () => {
  const MAX = 64;
  const leaves = syntheticLeaves(MAX);
  const roots = Array.from({ length: MAX + 1 }, (_, n) => rootOf(leaves, n));

  it('every inclusion proof verifies; a flipped byte in the proof, leaf or root is refused', () => {
    function* attempts(): Generator<[string, () => void]> {
      for (let n = 1; n <= MAX; n++) {
        for (let i = 0; i < n; i++) {
          const proof = inclusionProof(leaves, i, n);
          verifyInclusion(leaves[i]!, i, n, proof, roots[n]!);
          for (let p = 0; p < proof.length; p++) {
            for (const at of positions(n, i + p)) {
              const bad = proof.map((h, j) => (j === p ? flipped(h, at) : h));
              yield [
                `leaf ${i} of ${n}, proof[${p}] byte ${at}`,
                () => verifyInclusion(leaves[i]!, i, n, bad, roots[n]!),
              ];
            }
          }
          for (const at of positions(n, i + 1)) {
            yield [
              `leaf ${i} of ${n}, leaf byte ${at}`,
              () => verifyInclusion(flipped(leaves[i]!, at), i, n, proof, roots[n]!),
            ];
            yield [
              `leaf ${i} of ${n}, root byte ${at}`,
              () => verifyInclusion(leaves[i]!, i, n, proof, flipped(roots[n]!, at)),
            ];
          }
          // The same proof never proves another position, another size, another leaf or root.
          for (const c of inclusionMutations(leaves[i]!, i, n, proof, roots[n]!)) {
            yield [
              `leaf ${i} of ${n}, ${c.desc}`,
              () => verifyInclusion(c.leaf, c.index, c.size, c.proof, c.root),
            ];
          }
        }
      }
    }
    expect(notRefused(attempts())).toEqual([]);
  });

  it('every consistency proof verifies; a flipped byte in the proof or either root is refused', () => {
    function* attempts(): Generator<[string, () => void]> {
      for (let n = 1; n <= MAX; n++) {
        for (let m = 1; m <= n; m++) {
          const proof = consistencyProof(leaves, m, n);
          verifyConsistency(m, n, proof, roots[m]!, roots[n]!);
          for (let p = 0; p < proof.length; p++) {
            for (const at of positions(n, m + p)) {
              const bad = proof.map((h, j) => (j === p ? flipped(h, at) : h));
              yield [
                `${m} to ${n}, proof[${p}] byte ${at}`,
                () => verifyConsistency(m, n, bad, roots[m]!, roots[n]!),
              ];
            }
          }
          for (const at of positions(n, m + 1)) {
            yield [
              `${m} to ${n}, old root byte ${at}`,
              () => verifyConsistency(m, n, proof, flipped(roots[m]!, at), roots[n]!),
            ];
            yield [
              `${m} to ${n}, new root byte ${at}`,
              () => verifyConsistency(m, n, proof, roots[m]!, flipped(roots[n]!, at)),
            ];
          }
          if (m < n) {
            for (const c of consistencyMutations(m, n, proof, roots[m]!, roots[n]!)) {
              yield [`${m} to ${n}, ${c.desc}`, () => verifyConsistency(c.m, c.n, c.proof, c.rootM, c.rootN)];
            }
          }
        }
      }
    }
    expect(notRefused(attempts())).toEqual([]);
  });

  it('a proof for another tree (a fork of the same size) is refused', () => {
    const fork = [...leaves.slice(0, 40), leafHash(Buffer.from('forged')), ...leaves.slice(41)];
    const forkRoot = rootOf(fork, MAX);
    expect(toHex(forkRoot)).not.toBe(toHex(roots[MAX]!));
    refusesWith(() => verifyConsistency(32, MAX, consistencyProof(leaves, 32, MAX), roots[32]!, forkRoot));
    refusesWith(() => verifyInclusion(leaves[40]!, 40, MAX, inclusionProof(leaves, 40, MAX), forkRoot));
  });
});
