// The carriers' error codes, translated once into our stable codes. Both the send classifier
// (classify.ts) and the receipt mapper (receipts.ts) read this table, so a code means the same thing
// whether the carrier says it synchronously or in a delivery receipt.
//
// Sources: shared/reference/carriers.md (every code it names is here) plus the carriers' public
// error pages for the neighbouring receipt codes (Telnyx 40004, 40011–40015; Twilio 30001–30009).
// Reasons are our own fixed text: a carrier's `detail`/`message` can contain the phone numbers
// (Telnyx 40300: "cannot be sent from {src} to {dst}"), and reasons travel in statuses, logs and
// webhooks, where personal data must never appear.

/** Carriers the dispatcher sends through (the subprocessor registry's SMS routes). */
export type Carrier = 'telnyx' | 'twilio';

/**
 * Stable codes for why a send or a delivery did not succeed. Dashboards, alerts and controllers key
 * on them: never rename one, add a new code instead.
 */
export const carrierErrorCodes = {
  // Permanent for this message (class D when answered synchronously).
  CARRIER_INVALID_NUMBER: 'The carrier says the recipient is not a valid or known phone number.',
  CARRIER_UNROUTABLE: 'The carrier cannot route an SMS to the recipient.',
  CARRIER_LANDLINE: 'The recipient is a landline (or its network cannot take SMS from this sender).',
  CARRIER_NOT_SMS_CAPABLE: 'The recipient number cannot receive SMS.',
  CARRIER_OPTED_OUT:
    'The recipient opted out (STOP) at the carrier; the number is added to the global suppression list.',
  CARRIER_INVALID_BODY: 'The carrier refused the message body (missing or invalid).',
  CARRIER_CONTENT_REJECTED: 'The carrier or a downstream network filtered the message as spam.',
  CARRIER_BLOCKED: 'A downstream network or the recipient blocked the message.',
  CARRIER_UNREACHABLE: 'The handset or the recipient network was unreachable.',
  CARRIER_UNDELIVERABLE: 'A downstream network did not deliver the message and gave no specific reason.',
  CARRIER_EXPIRED: 'The message expired at the carrier (validity period) before it was delivered.',
  CARRIER_DELIVERY_UNCONFIRMED:
    'The carrier sent the message but no delivery confirmation came back: it may have been delivered.',
  CARRIER_CANCELED: 'The carrier canceled the message before sending it.',
  CARRIER_SENDING_FAILED: 'The carrier reports the send failed and gave no code this version knows.',
  CARRIER_REJECTED_UNCLASSIFIED:
    'The carrier refused the message with an error code this version does not know (alerts: classify it).',
  // The carrier route is unhealthy or misconfigured (class A: fail over).
  CARRIER_AUTH_FAILED: 'The carrier refused our credentials (alerts).',
  CARRIER_ACCOUNT_SUSPENDED: 'The carrier suspended our account (alerts).',
  CARRIER_SENDER_REFUSED:
    'The carrier refused the sender: not provisioned, not SMS-capable or inactive on this route (alerts).',
  CARRIER_WRONG_REGION: 'The number is not available in this carrier region (e.g. Twilio IE1) (alerts).',
  CARRIER_RATE_LIMITED: 'The carrier refused the request: too many requests.',
  CARRIER_QUEUE_FULL: "The carrier's queue for our account or sender is full.",
  CARRIER_INTERNAL_ERROR:
    'The carrier answered with an internal error in its own error format: nothing was accepted.',
  CARRIER_ENDPOINT_NOT_FOUND:
    'The carrier API answered 404/405: base URL or API version misconfigured (alerts).',
  CARRIER_REQUEST_TIMEOUT: 'The carrier answered 408: it gave up reading our request, nothing was accepted.',
  CARRIER_HTTP_REFUSED:
    'A 4xx without the carrier error format: something between us and the carrier refused the request.',
  CARRIER_CONNECT_FAILED: 'The connection to the carrier was refused or unreachable: nothing was sent.',
  CARRIER_DNS_FAILED: "The carrier's host name did not resolve: nothing was sent.",
  CARRIER_TLS_FAILED: 'The TLS handshake with the carrier failed: nothing was sent.',
  CARRIER_CONNECT_TIMEOUT: 'Connecting to the carrier timed out: nothing was sent.',
  // Ambiguous (class C: the carrier may have accepted the message; reconcile, never resend blindly).
  CARRIER_RESPONSE_TIMEOUT: 'No response from the carrier after the request was sent: outcome unknown.',
  CARRIER_CONNECTION_RESET: 'The connection broke after the request was sent: outcome unknown.',
  CARRIER_OUTCOME_UNKNOWN: 'A 5xx without the carrier error format (gateway or proxy): outcome unknown.',
  CARRIER_UNEXPECTED_RESPONSE:
    'A non-error HTTP status without a carrier message id: the carrier may have accepted it, outcome unknown.',
  CARRIER_UNEXPECTED_ERROR: 'The carrier call failed in a way the adapter could not place: outcome unknown.',
} as const;

/** One of the stable carrier error codes. */
export type CarrierErrorCode = keyof typeof carrierErrorCodes;

/** What one carrier code means to us. */
export interface CarrierCodeInfo {
  readonly code: CarrierErrorCode;
  /** The carrier's title for it, in our words; goes into reasons (never personal data). */
  readonly title: string;
}

const telnyx: Readonly<Record<string, CarrierCodeInfo>> = {
  '10002': { code: 'CARRIER_INVALID_NUMBER', title: 'invalid phone number' },
  '10016': { code: 'CARRIER_INVALID_NUMBER', title: 'phone number not in E.164 format' },
  '10009': { code: 'CARRIER_AUTH_FAILED', title: 'authentication failed' },
  '10010': { code: 'CARRIER_AUTH_FAILED', title: 'authorization failed' },
  '10007': { code: 'CARRIER_INTERNAL_ERROR', title: 'unexpected error' },
  '10011': { code: 'CARRIER_RATE_LIMITED', title: 'too many requests' },
  // Telnyx answers 40300 with HTTP 409 and 40318 with HTTP 429: the code, not the status, decides.
  '40300': { code: 'CARRIER_OPTED_OUT', title: 'blocked by a STOP from the recipient' },
  '40318': { code: 'CARRIER_QUEUE_FULL', title: 'message queue full' },
  // Delivery errors: normally in receipts (message.finalized), classified the same if answered early.
  '40001': { code: 'CARRIER_UNROUTABLE', title: 'not routable (landline or non-routable number)' },
  '40002': { code: 'CARRIER_CONTENT_REJECTED', title: 'blocked as spam (temporary)' },
  '40003': { code: 'CARRIER_CONTENT_REJECTED', title: 'blocked as spam (permanent)' },
  '40004': { code: 'CARRIER_UNDELIVERABLE', title: 'rejected by destination' },
  '40005': { code: 'CARRIER_EXPIRED', title: 'expired during transmission' },
  '40006': { code: 'CARRIER_UNREACHABLE', title: 'recipient unavailable' },
  '40008': { code: 'CARRIER_UNDELIVERABLE', title: 'undeliverable' },
  '40009': { code: 'CARRIER_INVALID_BODY', title: 'invalid message body' },
  '40011': { code: 'CARRIER_RATE_LIMITED', title: 'upstream rate limit exceeded' },
  '40012': { code: 'CARRIER_INVALID_NUMBER', title: 'invalid destination number' },
  '40013': { code: 'CARRIER_SENDER_REFUSED', title: 'invalid source number' },
  '40014': { code: 'CARRIER_EXPIRED', title: 'expired in queue' },
  '40015': { code: 'CARRIER_CONTENT_REJECTED', title: 'internal spam filter' },
};

const twilio: Readonly<Record<string, CarrierCodeInfo>> = {
  '21211': { code: 'CARRIER_INVALID_NUMBER', title: "invalid 'To' number" },
  '21610': { code: 'CARRIER_OPTED_OUT', title: 'recipient unsubscribed (STOP)' },
  '21612': { code: 'CARRIER_UNROUTABLE', title: "'To' and 'From' cannot be connected" },
  '21614': { code: 'CARRIER_NOT_SMS_CAPABLE', title: "'To' is not SMS-capable" },
  '21635': { code: 'CARRIER_LANDLINE', title: "'To' is a landline" },
  '21602': { code: 'CARRIER_INVALID_BODY', title: 'message body required' },
  '21606': { code: 'CARRIER_SENDER_REFUSED', title: "'From' is not SMS-capable" },
  '21663': { code: 'CARRIER_WRONG_REGION', title: 'number not available in this region' },
  '21611': { code: 'CARRIER_QUEUE_FULL', title: 'sender queue full' },
  '20429': { code: 'CARRIER_RATE_LIMITED', title: 'too many requests' },
  '20003': { code: 'CARRIER_AUTH_FAILED', title: 'authentication failed' },
  '20500': { code: 'CARRIER_INTERNAL_ERROR', title: 'internal server error' },
  '30500': { code: 'CARRIER_INTERNAL_ERROR', title: 'internal failure' },
  '12400': { code: 'CARRIER_INTERNAL_ERROR', title: 'internal failure' },
  // Delivery errors: normally in status callbacks (ErrorCode), classified the same if answered early.
  '30001': { code: 'CARRIER_QUEUE_FULL', title: 'queue overflow' },
  '30002': { code: 'CARRIER_ACCOUNT_SUSPENDED', title: 'account suspended' },
  '30003': { code: 'CARRIER_UNREACHABLE', title: 'unreachable destination handset' },
  '30004': { code: 'CARRIER_BLOCKED', title: 'message blocked' },
  '30005': { code: 'CARRIER_INVALID_NUMBER', title: 'unknown destination handset' },
  '30006': { code: 'CARRIER_LANDLINE', title: 'landline or unreachable carrier' },
  '30007': { code: 'CARRIER_CONTENT_REJECTED', title: 'message filtered' },
  '30008': { code: 'CARRIER_UNDELIVERABLE', title: 'unknown delivery error' },
  '30009': { code: 'CARRIER_UNDELIVERABLE', title: 'missing segment' },
};

const tables: Readonly<Record<Carrier, Readonly<Record<string, CarrierCodeInfo>>>> = { telnyx, twilio };

/** Looks up a carrier's error code (string or number, as the SDKs give them); undefined when unknown. */
export function carrierCodeInfo(
  carrier: Carrier,
  carrierCode: string | number | undefined,
): CarrierCodeInfo | undefined {
  if (carrierCode === undefined) return undefined;
  const table = tables[carrier];
  const key = String(carrierCode).trim();
  // Own properties only: a code such as "constructor" must not find Object.prototype members.
  return table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Every code in the table of one carrier, for tests and documentation. */
export function knownCarrierCodes(carrier: Carrier): readonly string[] {
  return Object.keys(tables[carrier]);
}
