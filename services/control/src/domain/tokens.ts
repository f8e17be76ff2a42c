import { createHash, randomBytes } from 'node:crypto';

/** An API token as handed out once: `mss_` + 32 random bytes (base64url). */
export function generateToken(): string {
  return `mss_${randomBytes(32).toString('base64url')}`;
}

/** Tokens are stored as SHA-256: they are random, so a slow password hash would add nothing. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A webhook signing secret (Standard Webhooks): `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A short random id with a readable prefix, e.g. `ep_3k9…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replaceAll('-', 'x').replaceAll('_', 'y')}`;
}
