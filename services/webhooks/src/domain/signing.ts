import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** Standard Webhooks secrets are `whsec_` + base64 of the key bytes. */
const PREFIX = 'whsec_';

/**
 * The HMAC key of a `whsec_…` secret (the base64-decoded part after the prefix), as a KeyObject:
 * made once per secret and kept, an HMAC costs less than half as much as from the raw bytes.
 */
export function signingKey(secret: string): KeyObject {
  if (!secret.startsWith(PREFIX)) throw new TypeError('a webhook secret starts with whsec_');
  return createSecretKey(Buffer.from(secret.slice(PREFIX.length), 'base64'));
}

/**
 * The `webhook-signature` header (Standard Webhooks v1): one `v1,<base64 HMAC-SHA256>` per secret
 * (a `whsec_…` string, or its signingKey),
 * space-separated (a rotation's grace period signs with the old and the new secret), over
 * `${id}.${timestamp}.${body}` — the exact bytes sent.
 */
export function signatureHeader(
  secrets: readonly (string | KeyObject)[],
  webhookId: string,
  timestampSeconds: number,
  body: string,
): string {
  if (secrets.length === 0) throw new TypeError('at least one secret is needed to sign');
  const content = `${webhookId}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => {
      const key = typeof secret === 'string' ? signingKey(secret) : secret;
      return `v1,${createHmac('sha256', key).update(content).digest('base64')}`;
    })
    .join(' ');
}

/** The three Standard Webhooks headers of one attempt; the timestamp is fresh on every attempt. */
export function signedHeaders(
  secrets: readonly (string | KeyObject)[],
  webhookId: string,
  now: Date,
  body: string,
): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(secrets, webhookId, timestamp, body),
  };
}
