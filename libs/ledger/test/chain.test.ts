import { describe, expect, it } from 'vitest';
import {
  type ChainEntry,
  ChainVerifier,
  canonicalBytes,
  chainHash,
  GENESIS_HASH,
  sha256,
  toHex,
  verifyChain,
} from '../src/index.ts';

/** A ledger of `n` entries with seq 1..n, built the way the service appends. */
function ledger(n: number): ChainEntry[] {
  const rows: ChainEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const bytes = canonicalBytes({ eventId: `ev-${seq}`, kind: 'routing_decision', seq });
    const hash = chainHash(prev, bytes);
    rows.push({ seq, bytes, hash });
    prev = hash;
  }
  return rows;
}

const rows = ledger(10);
const head = { seq: 10, hash: rows[9]!.hash };

describe('hash chain', () => {
  it('hash[n] = SHA-256(hash[n-1] ‖ bytes[n]) from 32 zero bytes', () => {
    expect(toHex(GENESIS_HASH)).toBe('0'.repeat(64));
    expect(toHex(rows[0]!.hash)).toBe(toHex(sha256(new Uint8Array(32), rows[0]!.bytes)));
    expect(toHex(rows[1]!.hash)).toBe(toHex(sha256(rows[0]!.hash, rows[1]!.bytes)));
  });

  it('an untouched ledger verifies up to its head', () => {
    expect(verifyChain(rows, { head })).toEqual({
      ok: true,
      count: 10,
      lastSeq: 10,
      lastHash: rows[9]!.hash,
    });
  });

  it('an edited field is named at its row', () => {
    const edited = rows.map((r) =>
      r.seq === 4 ? { ...r, bytes: canonicalBytes({ eventId: 'ev-4', kind: 'suppression', seq: 4 }) } : r,
    );
    expect(verifyChain(edited, { head })).toMatchObject({ ok: false, seq: 4, reason: 'hash_mismatch' });
  });

  it('an edit whose row hash was recomputed is caught at the next row', () => {
    const bytes = canonicalBytes({ eventId: 'ev-4', kind: 'suppression', seq: 4 });
    const edited = rows.map((r) =>
      r.seq === 4 ? { ...r, bytes, hash: chainHash(rows[2]!.hash, bytes) } : r,
    );
    expect(verifyChain(edited, { head })).toMatchObject({ ok: false, seq: 5, reason: 'hash_mismatch' });
  });

  it('a deleted middle row is named by its seq', () => {
    const deleted = rows.filter((r) => r.seq !== 6);
    expect(verifyChain(deleted, { head })).toMatchObject({
      ok: false,
      seq: 6,
      reason: 'seq_break',
      message: 'expected seq 6, found seq 7',
    });
  });

  it('two swapped rows (contents exchanged, seq kept) are named at the first', () => {
    const swapped = rows.map((r) => {
      if (r.seq === 3) return { ...rows[6]!, seq: 3 };
      if (r.seq === 7) return { ...rows[2]!, seq: 7 };
      return r;
    });
    expect(verifyChain(swapped, { head })).toMatchObject({ ok: false, seq: 3, reason: 'hash_mismatch' });
  });

  it('rows read out of order are named at the first place the order breaks', () => {
    const reordered = [...rows.slice(0, 2), rows[3]!, rows[2]!, ...rows.slice(4)];
    expect(verifyChain(reordered, { head })).toMatchObject({ ok: false, seq: 3, reason: 'seq_break' });
  });

  it('a dropped tail is named by the first missing seq when a head is known', () => {
    const dropped = rows.slice(0, 7);
    expect(verifyChain(dropped, { head })).toMatchObject({ ok: false, seq: 8, reason: 'missing_tail' });
    // Without an outside head a shorter chain is still a valid chain: that is why checkpoints exist.
    expect(verifyChain(dropped)).toMatchObject({ ok: true, lastSeq: 7 });
  });

  it('a history rewritten consistently from start to end still differs from the trusted head', () => {
    let prev = GENESIS_HASH;
    const rewritten = rows.map((r) => {
      const bytes = r.seq === 2 ? canonicalBytes({ eventId: 'ev-2', kind: 'forged', seq: 2 }) : r.bytes;
      prev = chainHash(prev, bytes);
      return { seq: r.seq, bytes, hash: prev };
    });
    expect(verifyChain(rewritten)).toMatchObject({ ok: true });
    expect(verifyChain(rewritten, { head })).toMatchObject({ ok: false, seq: 10, reason: 'head_mismatch' });
  });

  it('verifies from the middle given the previous hash (verify --from SEQ)', () => {
    expect(verifyChain(rows.slice(5), { firstSeq: 6, prevHash: rows[4]!.hash, head })).toMatchObject({
      ok: true,
      count: 5,
    });
    expect(verifyChain(rows.slice(5), { firstSeq: 6, prevHash: rows[3]!.hash })).toMatchObject({
      ok: false,
      seq: 6,
      reason: 'hash_mismatch',
    });
  });

  it('streams: push reports the first failure and keeps reporting it', () => {
    const verifier = new ChainVerifier({ head });
    const deleted = rows.filter((r) => r.seq !== 2);
    const failures = deleted.map((r) => verifier.push(r)?.seq);
    expect(failures).toEqual([undefined, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(verifier.end()).toMatchObject({ ok: false, seq: 2 });
  });
});
