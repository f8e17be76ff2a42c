import { createHash } from 'node:crypto';

/**
 * A deterministic event id (UUID version 8 layout, RFC 9562) derived from what changed: the same
 * state change always yields the same id, so a republished event is recognisably the same event and
 * consumers drop the copy. Parts are joined unambiguously (a separator no id may contain).
 */
export function eventIdFor(...parts: readonly (string | number)[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  digest[6] = (digest[6]! & 0x0f) | 0x80; // version 8
  digest[8] = (digest[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
