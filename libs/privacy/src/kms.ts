import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { associatedData, decodeBase64Url } from './encoding.ts';
import { InvalidKeyMaterialError, KeyUnwrapFailedError, MalformedWrappedKeyError } from './errors.ts';
import type { Brand, ControllerId } from './types.ts';

/**
 * A data key encrypted by the KMS, as stored: `wk1.<keyId>.<base64url payload>`. The key id names the exact
 * master key (version) so rotation and a cloud KMS (ARN or resource name as key id) fit the same column.
 */
export type WrappedKey = Brand<string, 'WrappedKey'>;

/** Port to whatever guards the master key, so the local dev key can be swapped for a cloud KMS. */
export interface Kms {
  /** Creates a fresh 32-byte key for the controller; the plaintext must only ever live in memory. */
  generateDataKey(controllerId: ControllerId): Promise<{ plaintext: Buffer; wrapped: WrappedKey }>;
  /** Recovers a key; must fail if it was wrapped for another controller or under another master key. */
  unwrap(controllerId: ControllerId, wrapped: WrappedKey): Promise<Buffer>;
  /**
   * The Ed25519 key the KMS keeps for `purpose` (e.g. `audit-checkpoints/eu`): the same key for the
   * same purpose every time, and signing happens behind the port (a cloud KMS never exports it).
   */
  signingKey(purpose: string): Promise<SigningKey>;
}

/** An Ed25519 key held by the KMS: its public half, and signing. */
export interface SigningKey {
  /** Raw 32-byte Ed25519 public key, the part to publish. */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** PKCS#8 DER header of an Ed25519 private key, followed by the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const WRAPPED_KEY_PATTERN = /^wk1\.([A-Za-z0-9_:/@+=-]{1,256})\.([A-Za-z0-9_-]+)$/;

/** Validates text read from storage as a wrapped key envelope; throws MalformedWrappedKeyError. */
export function toWrappedKey(text: string): WrappedKey {
  parseWrappedKey(text);
  return text as WrappedKey;
}

function parseWrappedKey(text: string): { keyId: string; payload: Buffer } {
  const match = WRAPPED_KEY_PATTERN.exec(text);
  const payload = match?.[2] === undefined ? undefined : decodeBase64Url(match[2]);
  if (match?.[1] === undefined || payload === undefined) throw new MalformedWrappedKeyError();
  return { keyId: match[1], payload };
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PAYLOAD_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES;
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;

/** Returns a fresh random master key as base64, the form KMS_MASTER_KEY holds (for dev setups and docs). */
export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

function decodeMasterKey(text: string): Buffer {
  const trimmed = text.trim(); // env files often end with a newline
  const bytes = BASE64_PATTERN.test(trimmed) ? Buffer.from(trimmed, 'base64') : undefined;
  if (bytes === undefined || bytes.toString('base64') !== trimmed) {
    throw new InvalidKeyMaterialError({ keyKind: 'master', byteLength: undefined });
  }
  if (bytes.length !== KEY_BYTES) {
    const byteLength = bytes.length;
    bytes.fill(0);
    throw new InvalidKeyMaterialError({ keyKind: 'master', byteLength });
  }
  return bytes;
}

/** KMS backed by one master key held in process memory: for development, tests and single-host setups. */
export class LocalKms implements Kms {
  /** Fingerprint of the master key, so a wrong KMS_MASTER_KEY is reported as such instead of as tampering. */
  readonly keyId: string;
  readonly #masterKey: KeyObject;

  /** Takes the master key as base64 text (32 bytes once decoded); throws InvalidKeyMaterialError otherwise. */
  constructor(masterKeyBase64: string) {
    const bytes = decodeMasterKey(masterKeyBase64);
    this.#masterKey = createSecretKey(bytes);
    bytes.fill(0);
    const fingerprint = createHmac('sha256', this.#masterKey)
      .update('massivesms.kms.local.key-id')
      .digest('hex');
    this.keyId = `local:${fingerprint.slice(0, 16)}`;
  }

  /** Generates a data key and wraps it with AES-256-GCM bound to the controller. */
  async generateDataKey(controllerId: ControllerId): Promise<{ plaintext: Buffer; wrapped: WrappedKey }> {
    const plaintext = randomBytes(KEY_BYTES);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#masterKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#associatedData(controllerId));
    const payload = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { plaintext, wrapped: `wk1.${this.keyId}.${payload.toString('base64url')}` as WrappedKey };
  }

  /** Unwraps a key; throws KeyUnwrapFailedError for another master key, another controller or tampering. */
  async unwrap(controllerId: ControllerId, wrapped: WrappedKey): Promise<Buffer> {
    const { keyId, payload } = parseWrappedKey(wrapped);
    if (keyId !== this.keyId) throw new KeyUnwrapFailedError({ controllerId, keyId, reason: 'unknown-key' });
    if (payload.length !== PAYLOAD_BYTES) throw new MalformedWrappedKeyError();
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#masterKey, payload.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(this.#associatedData(controllerId));
      decipher.setAuthTag(payload.subarray(PAYLOAD_BYTES - TAG_BYTES));
      return Buffer.concat([
        decipher.update(payload.subarray(IV_BYTES, PAYLOAD_BYTES - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (cause) {
      throw new KeyUnwrapFailedError({ controllerId, keyId, reason: 'authentication' }, { cause });
    }
  }

  /** An Ed25519 key derived from the master key for `purpose` (HKDF-SHA256), so it survives restarts. */
  async signingKey(purpose: string): Promise<SigningKey> {
    if (purpose === '' || purpose.length > 200)
      throw new RangeError('a signing key purpose is 1 to 200 characters');
    const seed = Buffer.from(
      hkdfSync('sha256', this.#masterKey, 'massivesms.kms.local.signing', purpose, KEY_BYTES),
    );
    const privateKey = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
    seed.fill(0);
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    return {
      publicKey: new Uint8Array(spki.subarray(spki.length - 32)),
      sign: async (message) => new Uint8Array(sign(null, message, privateKey)),
    };
  }

  #associatedData(controllerId: ControllerId): Buffer {
    return associatedData(['massivesms.kms.local', 'wk1', this.keyId, controllerId]);
  }
}
