import { bytesEqual, HASH_SIZE, sha256 } from './hash.ts';

/**
 * The `prev` of the first entry: 32 zero bytes. A fixed, well-known value (rather than, say, a hash of
 * the cell name) so a verifier needs nothing but the rows to start; which chain the rows belong to is
 * bound by the signed checkpoints, not by the genesis value. Do not mutate.
 */
export const GENESIS_HASH: Uint8Array = new Uint8Array(HASH_SIZE);

/** hash[n] = SHA-256(hash[n−1] ‖ bytes[n]), with `prevHash` = GENESIS_HASH for the first entry. */
export function chainHash(prevHash: Uint8Array, entryBytes: Uint8Array): Uint8Array {
  if (prevHash.length !== HASH_SIZE) throw new RangeError(`prevHash must be ${HASH_SIZE} bytes`);
  return sha256(prevHash, entryBytes);
}

/** One ledger row as the verifier needs it: its sequence number, the exact bytes hashed, the stored hash. */
export interface ChainEntry {
  readonly seq: number;
  readonly bytes: Uint8Array;
  readonly hash: Uint8Array;
}

/**
 * Why a chain failed, at `seq`:
 * - `seq_break`: the row at `seq` is missing (deleted), or rows come out of order or twice;
 * - `hash_mismatch`: the row at `seq`, or the one before it, was edited (its stored hash no longer
 *   follows from the previous hash and its bytes);
 * - `missing_tail`: the rows stop before `seq`, the last one a trusted head says exists (dropped tail);
 * - `head_mismatch`: the chain reaches the trusted head's `seq` with another hash (the history before
 *   it was rewritten consistently, which only an outside anchor can reveal).
 */
export type ChainFailureReason = 'seq_break' | 'hash_mismatch' | 'missing_tail' | 'head_mismatch';

export type ChainResult =
  | { readonly ok: true; readonly count: number; readonly lastSeq: number; readonly lastHash: Uint8Array }
  | {
      readonly ok: false;
      readonly seq: number;
      readonly reason: ChainFailureReason;
      readonly message: string;
    };

export interface ChainOptions {
  /** Sequence number of the first entry given; default 1. */
  readonly firstSeq?: number;
  /** Hash of the entry before `firstSeq`; default GENESIS_HASH (verifying from the start). */
  readonly prevHash?: Uint8Array;
  /**
   * A head known from outside the table (a signed checkpoint's size, the last seq the auditor saw):
   * the chain must reach `seq`, and have `hash` there if given. Without it, dropping the last rows
   * cannot be detected, since a shorter chain is still a valid chain.
   */
  readonly head?: { readonly seq: number; readonly hash?: Uint8Array };
}

/**
 * Checks a hash chain one entry at a time, so a caller can stream millions of rows from a cursor.
 * `push` returns the failure once the chain is broken (and keeps returning it); `end` gives the result.
 */
export class ChainVerifier {
  private nextSeq: number;
  private prevHash: Uint8Array;
  private count = 0;
  private failure: Extract<ChainResult, { ok: false }> | undefined;
  private readonly head: ChainOptions['head'];

  constructor(options: ChainOptions = {}) {
    this.nextSeq = options.firstSeq ?? 1;
    this.prevHash = options.prevHash ?? GENESIS_HASH;
    this.head = options.head;
    if (!Number.isSafeInteger(this.nextSeq)) throw new RangeError('firstSeq must be a safe integer');
    if (this.prevHash.length !== HASH_SIZE) throw new RangeError(`prevHash must be ${HASH_SIZE} bytes`);
  }

  /** Feeds the next row (in the order read, normally ORDER BY seq); returns the failure if the chain is broken. */
  push(entry: ChainEntry): Extract<ChainResult, { ok: false }> | undefined {
    if (this.failure) return this.failure;
    const seq = this.nextSeq;
    if (entry.seq !== seq) {
      return this.fail(seq, 'seq_break', `expected seq ${seq}, found seq ${entry.seq}`);
    }
    const expected = sha256(this.prevHash, entry.bytes);
    if (!bytesEqual(expected, entry.hash)) {
      return this.fail(
        seq,
        'hash_mismatch',
        `seq ${seq}: stored hash does not follow from the previous hash and the entry`,
      );
    }
    if (this.head?.hash !== undefined && seq === this.head.seq && !bytesEqual(expected, this.head.hash)) {
      return this.fail(seq, 'head_mismatch', `seq ${seq}: hash differs from the trusted head`);
    }
    this.prevHash = expected;
    this.nextSeq = seq + 1;
    this.count++;
    return undefined;
  }

  /** The verdict after the last row. */
  end(): ChainResult {
    if (this.failure) return this.failure;
    if (this.head !== undefined && this.nextSeq <= this.head.seq) {
      return this.fail(
        this.nextSeq,
        'missing_tail',
        `rows end at seq ${this.nextSeq - 1}, the head is at seq ${this.head.seq}`,
      );
    }
    return { ok: true, count: this.count, lastSeq: this.nextSeq - 1, lastHash: this.prevHash };
  }

  private fail(
    seq: number,
    reason: ChainFailureReason,
    message: string,
  ): Extract<ChainResult, { ok: false }> {
    this.failure = { ok: false, seq, reason, message };
    return this.failure;
  }
}

/** Verifies a whole chain held in memory; see ChainVerifier for streaming. Names the first bad seq. */
export function verifyChain(entries: Iterable<ChainEntry>, options: ChainOptions = {}): ChainResult {
  const verifier = new ChainVerifier(options);
  for (const entry of entries) {
    if (verifier.push(entry)) break;
  }
  return verifier.end();
}
