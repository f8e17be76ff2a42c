/**
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519, and tlog checkpoints (c2sp.org/tlog-checkpoint)
 * as their text: the formats of Go's checksum database, Sigstore and Trillian, so an auditor can check
 * our checkpoints with golang.org/x/mod/sumdb/note or any other implementation.
 *
 *     massivesms.example/audit/eu      ← origin
 *     1024                             ← tree size, decimal, no leading zeros
 *     7l5Z…hM=                         ← base64 of the 32-byte root hash
 *                                      ← blank line: the text above (with its final newline) is signed
 *     — massivesms.example/audit/eu AbCd…   ← em dash, key name, base64(4-byte key id ‖ signature)
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import {
  CheckpointFormatError,
  CheckpointOriginError,
  KeyFormatError,
  NoteFormatError,
  NoteSignatureError,
  UnverifiedNoteError,
} from './errors.ts';
import { bytesEqual, fromBase64Strict, HASH_SIZE, sha256, toBase64, toHex } from './hash.ts';

/** Signature type byte of Ed25519 in signed-note. */
const ALG_ED25519 = 0x01;
const ED25519_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
/** The spec asks verifiers to accept at least 16; more than this is refused as abuse. */
const MAX_SIGNATURES = 100;
const SIGNATURE_PREFIX = '\u2014 ';
/** PKCS#8 DER header of an Ed25519 private key, followed by the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A tree head as the checkpoint text states it. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** Optional lines after the root hash (e.g. a timestamp), opaque to verifiers. */
  readonly extensions: readonly string[];
}

/** A key that signs notes: its key name (usually the checkpoint origin) and Ed25519 private key. */
export interface NoteSigner {
  readonly name: string;
  readonly privateKey: KeyObject;
}

/** A trusted key, parsed from its `name+keyid+base64` form. */
export interface VerifierKey {
  readonly name: string;
  /** The first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key). */
  readonly keyId: Uint8Array;
  readonly publicKey: KeyObject;
}

/** The text of a note together with the trusted keys whose signatures verified. */
export interface OpenedNote {
  readonly text: string;
  readonly verifiedBy: readonly { readonly name: string; readonly keyId: string }[];
}

/** The note text of a checkpoint: origin, size, base64 root hash, then any extension lines, each ending in a newline. */
export function formatCheckpoint(checkpoint: {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: readonly string[];
}): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  if (origin === '' || !isValidLine(origin))
    throw new CheckpointFormatError('origin must be a non-empty line of text');
  if (!Number.isSafeInteger(size) || size < 0)
    throw new CheckpointFormatError(`size ${size} is not a tree size`);
  if (rootHash.length !== HASH_SIZE) throw new CheckpointFormatError(`root hash must be ${HASH_SIZE} bytes`);
  for (const line of extensions) {
    if (line === '' || !isValidLine(line))
      throw new CheckpointFormatError('extension lines must be non-empty lines of text');
  }
  return [origin, String(size), toBase64(rootHash), ...extensions].map((line) => `${line}\n`).join('');
}

/** Parses checkpoint text strictly (c2sp.org/tlog-checkpoint); throws CheckpointFormatError. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointFormatError('checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    throw new CheckpointFormatError('checkpoint text needs origin, size and root hash lines');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (lines.some((line) => line === '' || !isValidLine(line))) {
    throw new CheckpointFormatError('checkpoint lines must be non-empty text');
  }
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) {
    throw new CheckpointFormatError('tree size must be decimal with no leading zeros');
  }
  const rootHash = fromBase64Strict(rootLine);
  if (rootHash === undefined || rootHash.length !== HASH_SIZE) {
    throw new CheckpointFormatError(`root hash must be the base64 of ${HASH_SIZE} bytes`);
  }
  return { origin, size: Number(sizeLine), rootHash, extensions };
}

/** The signed-note key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. */
export function keyIdOf(name: string, publicKey: KeyObject | Uint8Array): Uint8Array {
  checkKeyName(name, KeyFormatError);
  return sha256(
    Buffer.from(`${name}\n`, 'utf8'),
    new Uint8Array([ALG_ED25519]),
    rawPublicKey(publicKey),
  ).subarray(0, 4);
}

/** The verifier key to publish: `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`. */
export function verifierKey(name: string, publicKey: KeyObject | Uint8Array): string {
  const raw = rawPublicKey(publicKey);
  const typed = Buffer.concat([Buffer.from([ALG_ED25519]), raw]);
  return `${name}+${toHex(keyIdOf(name, raw))}+${toBase64(typed)}`;
}

/** Parses a published verifier key, checking that its key id matches the name and key. Throws KeyFormatError. */
export function parseVerifierKey(vkey: string): VerifierKey {
  // The name has no '+', the key id is hex; the base64 part may contain '+', so split only twice.
  const first = vkey.indexOf('+');
  const second = vkey.indexOf('+', first + 1);
  if (first < 0 || second < 0) throw new KeyFormatError('a verifier key is name+keyid+key');
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  checkKeyName(name, KeyFormatError);
  if (!/^[0-9a-f]{8}$/.test(idHex))
    throw new KeyFormatError(`key id of ${name} must be 8 lower-case hex digits`);
  const typed = fromBase64Strict(vkey.slice(second + 1));
  if (typed === undefined || typed.length !== 1 + ED25519_KEY_SIZE || typed[0] !== ALG_ED25519) {
    throw new KeyFormatError(`key of ${name} is not base64 of 0x01 and a 32-byte Ed25519 public key`);
  }
  const publicKey = publicKeyFromRaw(typed.subarray(1));
  const keyId = keyIdOf(name, typed.subarray(1));
  if (toHex(keyId) !== idHex) throw new KeyFormatError(`key id of ${name} does not match its name and key`);
  return { name, keyId, publicKey };
}

/**
 * Parses a signer key in the form of Go's golang.org/x/mod/sumdb/note:
 * `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ 32-byte seed)>`. Throws KeyFormatError.
 */
export function parseSignerKey(skey: string): NoteSigner {
  const parts = skey.split('+');
  // The base64 may contain '+': everything after the fourth '+' is the key.
  if (parts.length < 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new KeyFormatError('a signer key is PRIVATE+KEY+name+keyid+key');
  }
  const name = parts[2]!;
  checkKeyName(name, KeyFormatError);
  const typed = fromBase64Strict(parts.slice(4).join('+'));
  if (typed === undefined || typed.length !== 1 + ED25519_KEY_SIZE || typed[0] !== ALG_ED25519) {
    throw new KeyFormatError(`signer key of ${name} is not base64 of 0x01 and a 32-byte Ed25519 seed`);
  }
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, typed.subarray(1)]),
    format: 'der',
    type: 'pkcs8',
  });
  if (toHex(keyIdOf(name, privateKey)) !== parts[3]) {
    throw new KeyFormatError(`key id of ${name} does not match its name and key`);
  }
  return { name, privateKey };
}

/**
 * Signs `text` (which must end in a newline) with each signer: the text, a blank line, one
 * `— <name> <base64(key id ‖ Ed25519 signature)>` line per signer.
 */
export function signNote(text: string, signers: NoteSigner | readonly NoteSigner[]): string {
  checkNoteText(text, NoteFormatError);
  const list = Array.isArray(signers) ? (signers as readonly NoteSigner[]) : [signers as NoteSigner];
  if (list.length === 0) throw new NoteFormatError('a note needs at least one signature');
  const message = Buffer.from(text, 'utf8');
  const lines = list.map(({ name, privateKey }) => {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
      throw new KeyFormatError(`the key of ${name} is not an Ed25519 private key`);
    }
    const signature = sign(null, message, privateKey);
    return `${SIGNATURE_PREFIX}${name} ${toBase64(Buffer.concat([keyIdOf(name, privateKey), signature]))}\n`;
  });
  return `${text}\n${lines.join('')}`;
}

/** A signing key held elsewhere (a KMS): its name, raw 32-byte Ed25519 public key, and signing. */
export interface RemoteNoteSigner {
  readonly name: string;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** signNote for a key that signs behind a port (the private key never enters this process). */
export async function signNoteWith(text: string, signer: RemoteNoteSigner): Promise<string> {
  checkNoteText(text, NoteFormatError);
  const signature = await signer.sign(Buffer.from(text, 'utf8'));
  if (signature.length !== ED25519_SIGNATURE_SIZE)
    throw new KeyFormatError(`the key of ${signer.name} did not return an Ed25519 signature`);
  const keyId = keyIdOf(signer.name, signer.publicKey);
  return `${text}\n${SIGNATURE_PREFIX}${signer.name} ${toBase64(Buffer.concat([keyId, signature]))}\n`;
}

/**
 * Opens a signed note as c2sp.org/signed-note says: splits text from signatures at the last blank line,
 * ignores signatures by keys not in `verifiers` (name and key id both must match), requires every
 * signature by a trusted key to verify (else NoteSignatureError) and at least one to exist (else
 * UnverifiedNoteError). Throws NoteFormatError on any syntax error.
 */
export function openNote(
  note: string | Uint8Array,
  verifiers: readonly (string | VerifierKey)[],
): OpenedNote {
  const trusted = verifiers.map((v) => (typeof v === 'string' ? parseVerifierKey(v) : v));
  const { text, signatures } = splitNote(decodeNote(note));
  const message = Buffer.from(text, 'utf8');
  const verifiedBy = new Map<string, { name: string; keyId: string }>();
  for (const { name, keyId, signature } of signatures) {
    const key = trusted.find((k) => k.name === name && bytesEqual(k.keyId, keyId));
    if (key === undefined) continue;
    if (signature.length !== ED25519_SIGNATURE_SIZE || !verify(null, message, key.publicKey, signature)) {
      throw new NoteSignatureError(name);
    }
    verifiedBy.set(`${name}+${toHex(keyId)}`, { name, keyId: toHex(keyId) });
  }
  if (verifiedBy.size === 0) throw new UnverifiedNoteError([...new Set(signatures.map((s) => s.name))]);
  return { text, verifiedBy: [...verifiedBy.values()] };
}

/**
 * Verifies a signed checkpoint and returns what it states. With `origin`, also requires the checkpoint
 * to be of that log (CheckpointOriginError otherwise): a valid signature on another log's head proves
 * nothing about ours.
 */
export function verifyNote(
  note: string | Uint8Array,
  verifiers: readonly (string | VerifierKey)[],
  options: { readonly origin?: string } = {},
): Checkpoint {
  const checkpoint = parseCheckpoint(openNote(note, verifiers).text);
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new CheckpointOriginError(options.origin, checkpoint.origin);
  }
  return checkpoint;
}

interface RawSignature {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === 'string') return note;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
  } catch {
    throw new NoteFormatError('note is not valid UTF-8');
  }
}

function splitNote(note: string): { text: string; signatures: RawSignature[] } {
  if (!isValidText(note)) {
    throw new NoteFormatError('note has control characters other than newline, or invalid Unicode');
  }
  if (!note.endsWith('\n')) throw new NoteFormatError('note must end with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteFormatError('note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (text === '\n' || lines.length === 0 || (lines.length === 1 && lines[0] === '')) {
    throw new NoteFormatError('note needs text and at least one signature');
  }
  if (lines.length > MAX_SIGNATURES)
    throw new NoteFormatError(`note has more than ${MAX_SIGNATURES} signatures`);
  return { text, signatures: lines.map(parseSignatureLine) };
}

function parseSignatureLine(line: string): RawSignature {
  if (!line.startsWith(SIGNATURE_PREFIX))
    throw new NoteFormatError('signature lines start with an em dash and a space');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space < 0) throw new NoteFormatError('a signature line is "— <key name> <base64 signature>"');
  const name = rest.slice(0, space);
  checkKeyName(name, NoteFormatError);
  const blob = fromBase64Strict(rest.slice(space + 1));
  if (blob === undefined || blob.length < 5)
    throw new NoteFormatError(`the signature by ${name} is not base64 of a key id and signature`);
  return { name, keyId: blob.subarray(0, 4), signature: blob.subarray(4) };
}

/** Key names: non-empty, no Unicode space, no '+', no control characters. */
function checkKeyName(name: string, ErrorClass: new (message: string) => Error): void {
  if (name === '' || /[\s+]/u.test(name) || !isValidLine(name)) {
    throw new ErrorClass('a key name must be non-empty, with no spaces and no "+"');
  }
}

function checkNoteText(text: string, ErrorClass: new (message: string) => Error): void {
  if (text === '' || !text.endsWith('\n') || !isValidText(text)) {
    throw new ErrorClass('note text must be lines of text, each ending in a newline');
  }
}

/** Well-formed Unicode, no control characters except newline. */
function isValidText(text: string): boolean {
  if (!text.isWellFormed()) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && code !== 0x0a) return false;
  }
  return true;
}

function isValidLine(line: string): boolean {
  return isValidText(line) && !line.includes('\n');
}

function rawPublicKey(key: KeyObject | Uint8Array): Uint8Array {
  if (key instanceof Uint8Array) {
    if (key.length !== ED25519_KEY_SIZE)
      throw new KeyFormatError(`an Ed25519 public key is ${ED25519_KEY_SIZE} bytes`);
    return key;
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyFormatError('not an Ed25519 key');
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw new KeyFormatError('not a valid Ed25519 public key');
  }
}
