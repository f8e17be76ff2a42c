import { createCipheriv, createDecipheriv, type KeyObject, randomFillSync } from 'node:crypto';
import { associatedData, decodeBase64Url } from './encoding.ts';
import { DecryptionFailedError, InvalidFieldContextError, KeyMismatchError } from './errors.ts';
import { type DataKey, keyObject } from './keys.ts';
import type { Brand, ControllerId } from './types.ts';

/** Serialised field ciphertext `v1.<base64url iv>.<base64url ciphertext+tag>`: fits JSON events and text columns. */
export type EncryptedField = Brand<string, 'EncryptedField'>;

/** Where a value lives; bound into the ciphertext so it cannot be replayed in another place. */
export interface FieldContext {
  readonly controllerId: ControllerId;
  readonly recordId: string;
  readonly field: string;
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * IVs are drawn from the CSPRNG 256 at a time (one call into OpenSSL instead of one per field, ~1.4 µs
 * saved each). Every IV is handed out once and used synchronously before the pool is refilled, so
 * pooling changes nothing about their randomness or uniqueness.
 */
const ivPool = Buffer.alloc(IV_BYTES * 256);
let ivNext = ivPool.length;

function freshIv(): Buffer {
  if (ivNext === ivPool.length) {
    randomFillSync(ivPool);
    ivNext = 0;
  }
  const iv = ivPool.subarray(ivNext, ivNext + IV_BYTES);
  ivNext += IV_BYTES;
  return iv;
}

function prepare(key: DataKey, context: FieldContext): { key: KeyObject; aad: Buffer } {
  if (key.controllerId !== context.controllerId) {
    throw new KeyMismatchError({ keyControllerId: key.controllerId, controllerId: context.controllerId });
  }
  if (context.recordId === '') throw new InvalidFieldContextError({ part: 'recordId' });
  if (context.field === '') throw new InvalidFieldContextError({ part: 'field' });
  // The version is bound too, so a future format cannot be downgraded into this one.
  const aad = associatedData([
    'massivesms.field',
    VERSION,
    context.controllerId,
    context.recordId,
    context.field,
  ]);
  return { key: keyObject(key, 'data'), aad };
}

/** Encrypts one personal field with AES-256-GCM under the controller's data key and a fresh random IV. */
export function encryptField(key: DataKey, plaintext: string, context: FieldContext): EncryptedField {
  const { key: secret, aad } = prepare(key, context);
  const iv = freshIv();
  const cipher = createCipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${iv.toString('base64url')}.${sealed.toString('base64url')}` as EncryptedField;
}

/** Decrypts a field for exactly the context it was encrypted for; throws DecryptionFailedError otherwise. */
export function decryptField(key: DataKey, ciphertext: string, context: FieldContext): string {
  const { key: secret, aad } = prepare(key, context);
  const fail = (reason: DecryptionFailedError['reason'], options?: ErrorOptions) =>
    new DecryptionFailedError({ ...context, reason }, options);

  const parts = ciphertext.split('.');
  const [version, ivText, sealedText] = parts;
  if (version !== VERSION) {
    throw fail(version !== undefined && /^v[0-9]+$/.test(version) ? 'unsupported-version' : 'malformed');
  }
  const iv = parts.length === 3 && ivText !== undefined ? decodeBase64Url(ivText) : undefined;
  const sealed = sealedText === undefined ? undefined : decodeBase64Url(sealedText);
  if (iv?.length !== IV_BYTES || sealed === undefined || sealed.length < TAG_BYTES) throw fail('malformed');

  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = sealed.subarray(0, sealed.length - TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch (cause) {
    // OpenSSL's message carries no plaintext or key bytes, so passing it on as cause is safe.
    throw fail('authentication', { cause });
  }
}
