import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  compactRangeAt,
  consistencyProof,
  consistencyProofRanges,
  EMPTY_ROOT,
  inclusionProof,
  inclusionProofRanges,
  leafHash,
  type NodeId,
  type NodeReader,
  nodeKey,
  nodesForRanges,
  proveConsistency,
  proveInclusion,
  rangeNodes,
  rootAt,
  rootOf,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../src/index.ts';
import { LEAVES_HEX, ROOTS_HEX } from './vectors.ts';

/** A stand-in for the (level, index) → hash table: filled only from what CompactRange.append says to insert. */
class NodeTable {
  readonly rows = new Map<string, Uint8Array>();
  reads = 0;
  readonly read: NodeReader = (ids: readonly NodeId[]) => {
    this.reads += ids.length;
    return ids.map((id) => {
      const hash = this.rows.get(nodeKey(id));
      if (hash === undefined) throw new Error(`node ${nodeKey(id)} was never stored`);
      return hash;
    });
  };
}

/** Appends `leaves` one by one the way a service would, storing every node each append completes. */
function grow(leaves: readonly Uint8Array[]): { table: NodeTable; ranges: CompactRange[] } {
  const table = new NodeTable();
  const ranges = [CompactRange.empty()];
  for (const leaf of leaves) {
    const { range, nodes } = ranges.at(-1)!.append(leaf);
    for (const node of nodes) {
      expect(table.rows.has(nodeKey(node)), `node ${nodeKey(node)} written twice`).toBe(false);
      table.rows.set(nodeKey(node), node.hash);
    }
    ranges.push(range);
  }
  return { table, ranges };
}

const hexes = (hashes: readonly Uint8Array[]) => hashes.map(toHex);

describe('proofs from stored complete subtrees', () => {
  const MAX = 64;
  const leaves = Array.from({ length: MAX }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const { table, ranges } = grow(leaves);

  it('the compact range gives the known-answer roots while appending', () => {
    const known = grow(LEAVES_HEX.map((h) => leafHash(Buffer.from(h, 'hex'))));
    expect(known.ranges.map((range) => toHex(range.root))).toEqual(ROOTS_HEX);
    expect(toHex(CompactRange.empty().root)).toBe(toHex(EMPTY_ROOT));
  });

  it('stores each complete subtree once, about two rows per leaf, and never rewrites one', () => {
    // 64 leaves: 64 + 32 + 16 + 8 + 4 + 2 + 1 complete subtrees; grow() fails on a second write.
    expect(table.rows.size).toBe(127);
  });

  it('roots, inclusion and consistency proofs equal the in-memory RFC 6962 reference for every size 1..64', async () => {
    for (let n = 1; n <= MAX; n++) {
      expect(toHex(await rootAt(n, table.read))).toBe(toHex(rootOf(leaves, n)));
      expect(toHex(ranges[n]!.root)).toBe(toHex(rootOf(leaves, n)));
      for (let i = 0; i < n; i++) {
        expect(hexes(await proveInclusion(i, n, table.read)), `leaf ${i} of ${n}`).toEqual(
          hexes(inclusionProof(leaves, i, n)),
        );
      }
      for (let m = 0; m <= n; m++) {
        expect(hexes(await proveConsistency(m, n, table.read)), `${m} to ${n}`).toEqual(
          hexes(consistencyProof(leaves, m, n)),
        );
      }
    }
  });

  it('a service restarted at any size reloads its compact range and keeps appending to the same roots', async () => {
    for (let n = 0; n < MAX; n++) {
      const reloaded = await compactRangeAt(n, table.read);
      expect(hexes(reloaded.hashes)).toEqual(hexes(ranges[n]!.hashes));
      expect(toHex(reloaded.append(leaves[n]!).range.root)).toBe(toHex(rootOf(leaves, n + 1)));
    }
  });

  it('proofs from the table verify against the roots from the compact range', async () => {
    const proof = await proveInclusion(37, 50, table.read);
    expect(() => verifyInclusion(leaves[37]!, 37, 50, proof, ranges[50]!.root)).not.toThrow();
    const consistency = await proveConsistency(23, 61, table.read);
    expect(() => verifyConsistency(23, 61, consistency, ranges[23]!.root, ranges[61]!.root)).not.toThrow();
  });

  it('a missing node row is an error, not a wrong proof', async () => {
    const holed = new NodeTable();
    for (const [key, hash] of table.rows) if (key !== '3/1') holed.rows.set(key, hash);
    await expect(proveInclusion(2, 40, holed.read)).rejects.toThrow('node 3/1 was never stored');
  });
});

describe('the cost of a proof in a large ledger (planning only, no hashing)', () => {
  const log2 = (n: number) => Math.ceil(Math.log2(n));

  it.each([1_000_000, 10_000_000, 12_345_679, 2 ** 24, 2 ** 24 + 1, 2 ** 40 - 3])(
    'an inclusion or consistency proof in a tree of %i leaves reads at most 2·log2(n) stored nodes',
    (n) => {
      for (const index of [0, 1, Math.floor(n / 3), n - 2, n - 1]) {
        const ranges = inclusionProofRanges(index, n);
        expect(ranges.length).toBeLessThanOrEqual(log2(n));
        expect(nodesForRanges(ranges).length).toBeLessThanOrEqual(2 * log2(n));
      }
      for (const m of [1, 2, 1000, Math.floor(n / 2) + 1, n - 1]) {
        const ranges = consistencyProofRanges(m, n);
        expect(ranges.length).toBeLessThanOrEqual(2 * log2(n));
        expect(nodesForRanges(ranges).length).toBeLessThanOrEqual(2 * log2(n) + 1);
      }
      expect(rangeNodes(0, n).length).toBeLessThanOrEqual(log2(n) + 1);
    },
  );

  it('splits a range into aligned complete subtrees, largest first', () => {
    expect(rangeNodes(0, 13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    expect(rangeNodes(8, 13)).toEqual([
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    expect(rangeNodes(5, 5)).toEqual([]);
  });

  it('refuses an index outside the tree and sizes out of order', () => {
    expect(() => inclusionProofRanges(5, 5)).toThrow('index 5 is not in a tree of size 5');
    expect(() => consistencyProofRanges(6, 5)).toThrow('cannot prove size 6 consistent with size 5');
    expect(() => new CompactRange(3, [])).toThrow('a tree of 3 leaves has 2 edge nodes, got 0');
  });
});
