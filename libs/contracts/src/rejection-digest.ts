import { createHmac, randomBytes } from 'node:crypto';

/** A rejection's digest of the record it answers (see `rejectionSchema.digest`). */
export interface RejectionDigest {
  readonly alg: 'hmac-sha256';
  readonly salt: string;
  readonly value: string;
}

/** A salted HMAC of a rejected record's bytes: matches the record read back, reveals nothing of it. */
export function rejectionDigest(value: Uint8Array, salt: Buffer = randomBytes(16)): RejectionDigest {
  return {
    alg: 'hmac-sha256',
    salt: salt.toString('base64url'),
    value: createHmac('sha256', salt).update(value).digest('base64url'),
  };
}

/** Whether `value` is the record a rejection's digest was made of. */
export function matchesRejectionDigest(
  value: Uint8Array,
  digest: Pick<RejectionDigest, 'salt' | 'value'>,
): boolean {
  return rejectionDigest(value, Buffer.from(digest.salt, 'base64url')).value === digest.value;
}
