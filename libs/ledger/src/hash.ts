import { createHash, timingSafeEqual } from 'node:crypto';

/** Size of every hash in the ledger: SHA-256. */
export const HASH_SIZE = 32;

/** SHA-256 over the concatenation of `parts`, without building the concatenation. */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** Byte equality; constant-time for equal lengths, as comparisons against a root or signature should be. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Lower-case hex of `bytes`, for messages and tests. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Standard (RFC 4648 §4) base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes standard padded base64, refusing anything Node's lenient decoder would silently accept
 * (missing padding, URL alphabet, stray characters, non-zero pad bits): a signed format must have
 * exactly one spelling per value, or two notes with different bytes could carry the same signature.
 * Returns undefined when `text` is not canonical base64.
 */
export function fromBase64Strict(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}
