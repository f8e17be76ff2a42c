// Carrier webhook signatures with keys built once. The SDKs rebuild the key for every request
// (Telnyx imports the raw ed25519 key through WebCrypto per verify; Twilio hands the auth token to
// createHmac per call); here each key is a KeyObject made at start-up. The rules are the SDKs' own
// (telnyx lib/webhooks.js, twilio lib/webhooks/webhooks.js); signatures.test.ts checks that both
// verdicts agree on every case.
import {
  createHmac,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import twilio from 'twilio';

/** Thrown when a Telnyx webhook's signature does not verify; the message says which rule failed. */
export class TelnyxSignatureError extends Error {
  override readonly name = 'TelnyxSignatureError';
  readonly code = 'WEBHOOK_SIGNATURE_INVALID';
}

/** Telnyx's tolerance between the webhook's timestamp and our clock, in seconds. */
const TOLERANCE_SECONDS = 300;

/** Strict, padded base64 (what the SDK accepts); undefined when the text is not. */
function strictBase64(value: string): Buffer | undefined {
  if (value.length === 0 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  return Buffer.from(value, 'base64');
}

/**
 * Verifies Telnyx webhooks (`telnyx-signature-ed25519` over `${telnyx-timestamp}|${body}`, the
 * timestamp within 5 minutes of `now`) against the account's public key (base64 of the raw 32
 * bytes, as Mission Control shows it), built once. Returns the parsed body; throws
 * TelnyxSignatureError otherwise.
 */
export function telnyxWebhookVerifier(
  publicKeyBase64: string,
  now: () => number = Date.now,
): (body: string, headers: Record<string, string | string[] | undefined>) => unknown {
  const raw = strictBase64(publicKeyBase64);
  if (raw?.length !== 32) throw new TelnyxSignatureError('the Telnyx public key is not 32 bytes of base64');
  const key: KeyObject = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
  return (body, headers) => {
    const signature = headers['telnyx-signature-ed25519'];
    const timestamp = headers['telnyx-timestamp'];
    if (typeof signature !== 'string' || signature.length === 0)
      throw new TelnyxSignatureError('missing Telnyx-Signature-Ed25519');
    if (typeof timestamp !== 'string' || timestamp.length === 0)
      throw new TelnyxSignatureError('missing Telnyx-Timestamp');
    const at = /^\d+$/.test(timestamp) ? Number(timestamp) : Number.NaN;
    if (!Number.isSafeInteger(at)) throw new TelnyxSignatureError('invalid timestamp');
    if (Math.abs(Math.floor(now() / 1000) - at) > TOLERANCE_SECONDS)
      throw new TelnyxSignatureError('timestamp too old or too new');
    const sig = strictBase64(signature);
    if (sig?.length !== 64) throw new TelnyxSignatureError('invalid signature format');
    if (!verify(null, Buffer.from(`${timestamp}|${body}`, 'utf8'), key, sig))
      throw new TelnyxSignatureError('signature does not match');
    return JSON.parse(body) as unknown;
  };
}

/** The URL with its default port removed and added, as Twilio's validateRequest tries them first. */
function portVariants(url: string): [string, string] {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!match) return [url, url];
  const [prefix, scheme, authority] = match as unknown as [string, string, string];
  const userInfoEnd = authority.lastIndexOf('@');
  const hostAndPort = authority.slice(userInfoEnd + 1);
  const portStart = hostAndPort.indexOf(':', hostAndPort.lastIndexOf(']') + 1);
  const userInfo = authority.slice(0, userInfoEnd + 1);
  const host = portStart === -1 ? hostAndPort : hostAndPort.slice(0, portStart);
  const rest = url.slice(prefix.length);
  const withoutPort = scheme + userInfo + host + rest;
  const withPort =
    portStart === -1
      ? scheme + userInfo + host + (scheme.toLowerCase() === 'https://' ? ':443' : ':80') + rest
      : url;
  return [withoutPort, withPort];
}

/**
 * Verifies Twilio's `X-Twilio-Signature` (HMAC-SHA1 of the URL followed by the sorted form
 * parameters) with the auth token as a KeyObject built once. The two URL forms Twilio's SDK tries
 * first (default port absent and present) are checked here; anything else (a URL it normalises)
 * falls back to the SDK's validateRequest, so exactly what the SDK accepts is accepted.
 */
export function twilioWebhookVerifier(
  authToken: string,
): (signature: string, url: string, params: Record<string, string>) => boolean {
  const key = createSecretKey(Buffer.from(authToken, 'utf8'));
  return (signature, url, params) => {
    const given = Buffer.from(signature, 'utf8');
    const fields = Object.keys(params)
      .sort()
      .reduce((acc, name) => acc + name + params[name], '');
    for (const candidate of portVariants(url)) {
      const expected = Buffer.from(
        createHmac('sha1', key)
          .update(candidate + fields, 'utf8')
          .digest('base64'),
        'utf8',
      );
      if (expected.length === given.length && timingSafeEqual(expected, given)) return true;
    }
    return twilio.validateRequest(authToken, signature, url, params);
  };
}
