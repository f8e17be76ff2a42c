// The per-message receipt callback URL (DESIGN.md §5.1). It carries OUR ids, so when a send's
// response is lost (class C, status `unknown`) the carrier's receipt still names the message and
// reconciles it: the receipt's carrier id alone could not, since we never learned it.
//
//   {publicBase}/receipts/{carrier}/{encodeURIComponent(controllerId)}/{encodeURIComponent(messageId)}
//
// The parser accepts exactly what the builder produces (one canonical path per message) and
// nothing else: no extra or empty segments, no dot segments, no query, no alternative encodings.
// The path is not an authenticator. Twilio signs the full URL, so there it is covered; Telnyx signs
// only the body, so the ingress must check the payload's carrier message id against the one stored
// for the message whenever one is stored.

import type { Carrier } from './carrier-codes.ts';

/** Whom a receipt is about, as the callback path says. */
export interface CallbackTarget {
  readonly carrier: Carrier;
  readonly controllerId: string;
  readonly messageId: string;
}

// Same alphabet as the contracts' ids (libs/contracts events.ts), which the router has already
// enforced: letters and digits first, then . _ : - ; so no id can be '.', '..' or contain '/'.
const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const maxIdLength = 128;
const carriers: readonly Carrier[] = ['telnyx', 'twilio'];
const receiptsSegment = 'receipts';

function validId(id: string): boolean {
  return id.length <= maxIdLength && idPattern.test(id);
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** The path part, `/receipts/{carrier}/{controllerId}/{messageId}`, with ids percent-encoded. */
export function callbackPath(target: CallbackTarget): string {
  if (!carriers.includes(target.carrier)) throw new TypeError(`unknown carrier: ${String(target.carrier)}`);
  // Ids come validated from the contracts; one that is not is a bug, and must not reach a carrier.
  if (!validId(target.controllerId)) throw new TypeError('controllerId is not a valid id');
  if (!validId(target.messageId)) throw new TypeError('messageId is not a valid id');
  const enc = encodeURIComponent;
  return `/${receiptsSegment}/${target.carrier}/${enc(target.controllerId)}/${enc(target.messageId)}`;
}

/** Checks a public base URL and returns it without trailing slashes; throws naming what is wrong. */
export function normalisePublicBase(publicBase: string): string {
  let url: URL;
  try {
    url = new URL(publicBase);
  } catch {
    throw new TypeError('public base URL is not a URL');
  }
  // Receipts carry phone numbers: they must travel encrypted, except to a simulator on this host.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new TypeError('public base URL must be https (http only for loopback hosts)');
  }
  if (url.username !== '' || url.password !== '')
    throw new TypeError('public base URL must not hold credentials');
  if (url.search !== '' || url.hash !== '' || publicBase.includes('?') || publicBase.includes('#')) {
    throw new TypeError('public base URL must not have a query or fragment');
  }
  return url.href.replace(/\/+$/, '');
}

/** The full callback URL for one message on one carrier (Telnyx `webhook_url`, Twilio `StatusCallback`). */
export function buildCallbackUrl(publicBase: string, target: CallbackTarget): string {
  return normalisePublicBase(publicBase) + callbackPath(target);
}

/** Parses a request path (as received, still encoded) into its target; undefined for anything else. */
export function parseCallbackPath(path: string, mountPath = ''): CallbackTarget | undefined {
  if (typeof path !== 'string' || path.length > 2048) return undefined;
  // The mount is where a proxy forwards the public base's path, if it does not strip it.
  const trimmed = mountPath.replace(/\/+$/, '');
  const mount = trimmed === '' || trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
  const prefix = `${mount}/${receiptsSegment}/`;
  if (!path.startsWith(prefix)) return undefined;
  const parts = path.slice(prefix.length).split('/');
  if (parts.length !== 3) return undefined;
  const [carrier, rawController, rawMessage] = parts as [string, string, string];
  if (!(carriers as readonly string[]).includes(carrier)) return undefined;
  const controllerId = decode(rawController);
  const messageId = decode(rawMessage);
  if (controllerId === undefined || messageId === undefined) return undefined;
  if (!validId(controllerId) || !validId(messageId)) return undefined;
  const target: CallbackTarget = { carrier: carrier as Carrier, controllerId, messageId };
  // Only the canonical spelling: `%61` for `a` or `%3a` for `%3A` would be a second path for the
  // same message, which breaks signature checks over the URL and any path-keyed rate limit.
  return mount + callbackPath(target) === path ? target : undefined;
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
