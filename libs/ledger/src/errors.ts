/**
 * Errors of the ledger library. Each carries a stable `code` to branch on; messages name positions,
 * sizes, key names and field paths only — never the content of an entry or a note, which may be
 * someone's data.
 */

/** Base class so a caller can catch every ledger failure at once. */
export abstract class LedgerError extends Error {
  abstract readonly code: string;
}

/** A value cannot be encoded canonically (a float, a non-NFC string, a class instance, …). */
export class CanonicalEncodingError extends LedgerError {
  override readonly name = 'CanonicalEncodingError';
  readonly code = 'LEDGER_CANONICAL_INVALID';
  /** Where in the value, as `$.field[2].other`. */
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`cannot encode canonically: ${path} is ${problem}`);
    this.path = path;
  }
}

/** Why a Merkle proof or a proof request was refused. */
export type ProofFailure =
  | 'bad_size'
  | 'index_out_of_range'
  | 'bad_hash_length'
  | 'proof_too_long'
  | 'proof_too_short'
  | 'root_mismatch'
  | 'sizes_out_of_order';

/** A Merkle inclusion or consistency proof does not verify, or its inputs are malformed. */
export class ProofError extends LedgerError {
  override readonly name = 'ProofError';
  readonly code = 'LEDGER_PROOF_INVALID';
  readonly reason: ProofFailure;
  constructor(reason: ProofFailure, detail: string) {
    super(`${reason.replaceAll('_', ' ')}: ${detail}`);
    this.reason = reason;
  }
}

/** A verifier key (`name+keyid+base64`) or a signer key is malformed or does not match its key id. */
export class KeyFormatError extends LedgerError {
  override readonly name = 'KeyFormatError';
  readonly code = 'LEDGER_KEY_INVALID';
}

/** A signed note is not well-formed (C2SP signed-note syntax). */
export class NoteFormatError extends LedgerError {
  override readonly name = 'NoteFormatError';
  readonly code = 'LEDGER_NOTE_MALFORMED';
}

/** A signature by a key we trust is present but does not verify: the note was altered or forged. */
export class NoteSignatureError extends LedgerError {
  override readonly name = 'NoteSignatureError';
  readonly code = 'LEDGER_NOTE_SIGNATURE_INVALID';
  readonly keyName: string;
  constructor(keyName: string) {
    super(`the signature by ${keyName} does not verify`);
    this.keyName = keyName;
  }
}

/** No signature in the note is by a key we trust. */
export class UnverifiedNoteError extends LedgerError {
  override readonly name = 'UnverifiedNoteError';
  readonly code = 'LEDGER_NOTE_UNVERIFIED';
  /** The key names the note was signed with, none of them trusted. */
  readonly keyNames: readonly string[];
  constructor(keyNames: readonly string[]) {
    super(`no signature by a trusted key (signed by: ${keyNames.join(', ') || 'nobody'})`);
    this.keyNames = keyNames;
  }
}

/** A note's text is not a well-formed C2SP tlog-checkpoint. */
export class CheckpointFormatError extends LedgerError {
  override readonly name = 'CheckpointFormatError';
  readonly code = 'LEDGER_CHECKPOINT_MALFORMED';
}

/** A validly signed checkpoint is for another log than the one asked for. */
export class CheckpointOriginError extends LedgerError {
  override readonly name = 'CheckpointOriginError';
  readonly code = 'LEDGER_CHECKPOINT_WRONG_ORIGIN';
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string) {
    super(`checkpoint origin is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
    this.expected = expected;
    this.actual = actual;
  }
}
