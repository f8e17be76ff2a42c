// Classifies a failed send attempt (reference/carriers.md, "Classifying a send attempt"; DESIGN.md
// §5.1–5.2). Pure: the carrier adapters translate what their HTTP clients answered or threw into a
// CarrierFailure (see the mapping notes on that type) and act on what this returns.
//
//   A  not accepted, route unhealthy  → fail over; counts against the breaker (auth also alerts)
//   B  accepted (2xx with carrier id) → the success path, never a failure: not classified here
//   C  ambiguous                      → status `unknown`; reconcile from the receipt; never resend blindly
//   D  permanent for this message     → terminal `failed` with a reason; never fail over; no breaker
//
// Decisions beyond the reference:
// - C counts against the breaker. Response timeouts, resets and bodiless 5xx are how an unhealthy
//   carrier looks from outside; not counting them would keep sending into it, and every such send
//   becomes another `unknown` to reconcile. Opening the breaker bounds that.
// - Opted out (40300, 21610) ends in `failed` + CARRIER_OPTED_OUT + `suppress: true` (the dispatcher
//   row has no `suppressed` state; the suppression list entry is what stops later sends).
// - An unknown code in the carrier's own 4xx error format is D (CARRIER_REJECTED_UNCLASSIFIED) and
//   alerts: the carrier answered coherently about this message, so the route is healthy (no breaker,
//   §5.2), and failing over could route around a carrier compliance block we have not classified yet
//   (spam/opt-out codes are D precisely so that they are never failed over) while disclosing the
//   recipient to a second subprocessor. A 4xx WITHOUT the carrier's error format came from
//   something in between (proxy, WAF), not from the carrier's judgement of the message: A.
// - Sender and region refusals (Twilio 21606, 21663; Telnyx 40013) are A but do not count against
//   the breaker: they concern one sender, and one misconfigured sender must not take the route away
//   from every controller. They alert ('config').
// - 401/403 without a known code are auth (A, alert); 404/405 mean a wrong base URL or API version
//   (A, counts, alert 'config'); 408 means the carrier gave up reading the request (A).

import { type Carrier, type CarrierErrorCode, carrierCodeInfo } from './carrier-codes.ts';

/** How a carrier call failed below HTTP, or `http` when a status line arrived. */
export type FailureKind =
  | 'connect_refused'
  | 'dns'
  | 'tls'
  | 'connect_timeout'
  | 'response_timeout'
  | 'reset'
  | 'unexpected'
  | 'http';

/**
 * A failed carrier call, described without the HTTP client. The adapter fills it from what its
 * client answered or threw.
 * The rule that matters: report a kind that means "nothing was sent" (connect_refused, dns, tls,
 * connect_timeout) only with proof that no request bytes left; when in doubt use response_timeout,
 * reset or unexpected, which are ambiguous and reconciled instead of resent.
 *
 * Telnyx (sends over an undici Pool, the SDK's request and response types; nothing retries):
 * - An answer with a status: 2xx with `data.id` is accepted; a 2xx without it → `kind: 'http'` with
 *   its status (ambiguous: the carrier may have accepted it); a 2xx body that does not parse →
 *   `unexpected`. Any other status → `kind: 'http'`, `httpStatus`; the body, when it parses, is
 *   `{errors: [{code, title, detail, source}]}` (an HTML 502 from a proxy does not):
 *   `carrierCode: String(errors[0].code)` when present, `hasCarrierBody: errors.length > 0`,
 *   `retryAfterSeconds: parseRetryAfter(headers['retry-after'], now)`.
 * - Our own deadline (one per call, from asking for a connection to the end of the body) →
 *   `response_timeout`: the request may have been written.
 * - undici's errors carry the code themselves: `{code: 'ECONNREFUSED', syscall: 'connect'}`,
 *   `{code: 'ENOTFOUND', syscall: 'getaddrinfo'}`, TLS codes, `UND_ERR_CONNECT_TIMEOUT` (connect
 *   only: nothing written), `UND_ERR_HEADERS_TIMEOUT`/`UND_ERR_BODY_TIMEOUT`, `UND_ERR_SOCKET`
 *   "other side closed" (also while reading a 2xx body). Kind = `transportKindFromErrorCode(code,
 *   syscall)`; no code → `unexpected`.
 *
 * Twilio (sends over the same kind of pool, the form the SDK posts; nothing retries): an answer is
 * read as the SDK's RestException / TwilioServiceException (RFC 9457) would be:
 * - 2xx with a `sid` is accepted (`num_segments`); 2xx without one → `kind: 'http'` (ambiguous); a
 *   2xx body that does not parse → `unexpected`.
 * - Any other status → `kind: 'http'`, `httpStatus`, `carrierCode: String(code)` when the body's
 *   `code` is a number other than 0 (0 means "no code" in RFC 9457 bodies), `hasCarrierBody`
 *   likewise; a non-JSON body (HTML 502, empty 504) has no code. No `retryAfterSeconds` (the SDK's
 *   exception carried no headers; kept so the classification did not change).
 * - No answer: as for Telnyx (our deadline → `response_timeout`, undici's codes otherwise).
 */
export interface CarrierFailure {
  readonly carrier: Carrier;
  readonly kind: FailureKind;
  /** The HTTP status, for `kind: 'http'`. */
  readonly httpStatus?: number | undefined;
  /** The carrier's own error code (Telnyx `errors[0].code`, Twilio `code`), as a string. */
  readonly carrierCode?: string | undefined;
  /** Whether the body was the carrier's error format; defaults to "a carrier code was found". */
  readonly hasCarrierBody?: boolean | undefined;
  /** From the Retry-After header, when the carrier sent one (see parseRetryAfter). */
  readonly retryAfterSeconds?: number | undefined;
}

/** Why an alert is raised beside the classification: someone has to act, retries will not help. */
export type FailureAlert = 'auth' | 'config' | 'unclassified';

/** Class A: the carrier did not accept the message and the route looks unhealthy: fail over. */
export interface NotAccepted {
  readonly class: 'A_NOT_ACCEPTED';
  readonly action: 'fail_over';
  readonly countsAgainstBreaker: boolean;
  readonly code: CarrierErrorCode;
  readonly reason: string;
  readonly alert?: FailureAlert;
  /** Carrier-requested wait before the same route is tried again (rate limit, queue full). */
  readonly retryAfterSeconds?: number;
}

/** Class C: the carrier may have accepted the message: `unknown` until a receipt or lookup says. */
export interface Ambiguous {
  readonly class: 'C_AMBIGUOUS';
  readonly action: 'reconcile';
  readonly countsAgainstBreaker: true;
  readonly status: 'unknown';
  readonly code: CarrierErrorCode;
  readonly reason: string;
}

/** Class D: this message can never succeed as sent: terminal, on no route. */
export interface Permanent {
  readonly class: 'D_PERMANENT';
  readonly action: 'terminal';
  readonly countsAgainstBreaker: false;
  readonly status: 'failed';
  readonly code: CarrierErrorCode;
  readonly reason: string;
  /** The recipient opted out at the carrier: add them to the global suppression list. */
  readonly suppress: boolean;
  readonly alert?: FailureAlert;
}

/** What the dispatcher does about one failed send attempt. */
export type SendFailureClass = NotAccepted | Ambiguous | Permanent;

// Stable codes that end a message for good when the carrier says them about it (class D).
const permanentCodes: ReadonlySet<CarrierErrorCode> = new Set<CarrierErrorCode>([
  'CARRIER_INVALID_NUMBER',
  'CARRIER_UNROUTABLE',
  'CARRIER_LANDLINE',
  'CARRIER_NOT_SMS_CAPABLE',
  'CARRIER_OPTED_OUT',
  'CARRIER_INVALID_BODY',
  'CARRIER_CONTENT_REJECTED',
  'CARRIER_BLOCKED',
  'CARRIER_UNREACHABLE',
  'CARRIER_UNDELIVERABLE',
  'CARRIER_EXPIRED',
]);

// Class A codes that concern one sender, not the route: fail over without tripping the breaker.
const senderCodes: ReadonlySet<CarrierErrorCode> = new Set<CarrierErrorCode>([
  'CARRIER_SENDER_REFUSED',
  'CARRIER_WRONG_REGION',
]);

const authCodes: ReadonlySet<CarrierErrorCode> = new Set<CarrierErrorCode>([
  'CARRIER_AUTH_FAILED',
  'CARRIER_ACCOUNT_SUSPENDED',
]);

function notAccepted(
  f: CarrierFailure,
  code: CarrierErrorCode,
  reason: string,
  extra: { counts?: boolean; alert?: FailureAlert } = {},
): NotAccepted {
  const retry = validRetryAfter(f.retryAfterSeconds);
  return {
    class: 'A_NOT_ACCEPTED',
    action: 'fail_over',
    countsAgainstBreaker: extra.counts ?? true,
    code,
    reason,
    ...(extra.alert === undefined ? {} : { alert: extra.alert }),
    ...(retry === undefined ? {} : { retryAfterSeconds: retry }),
  };
}

function ambiguous(code: CarrierErrorCode, reason: string): Ambiguous {
  return {
    class: 'C_AMBIGUOUS',
    action: 'reconcile',
    countsAgainstBreaker: true,
    status: 'unknown',
    code,
    reason,
  };
}

function permanent(code: CarrierErrorCode, reason: string, alert?: FailureAlert): Permanent {
  return {
    class: 'D_PERMANENT',
    action: 'terminal',
    countsAgainstBreaker: false,
    status: 'failed',
    code,
    reason,
    suppress: code === 'CARRIER_OPTED_OUT',
    ...(alert === undefined ? {} : { alert }),
  };
}

function validRetryAfter(s: number | undefined): number | undefined {
  return s !== undefined && Number.isFinite(s) && s >= 0 ? Math.ceil(s) : undefined;
}

/** Classifies one failed carrier call into A (fail over), C (reconcile) or D (terminal). */
export function classifySendFailure(f: CarrierFailure): SendFailureClass {
  const who = f.carrier;
  switch (f.kind) {
    case 'connect_refused':
      return notAccepted(f, 'CARRIER_CONNECT_FAILED', `${who}: connection refused or unreachable`);
    case 'dns':
      return notAccepted(f, 'CARRIER_DNS_FAILED', `${who}: host name did not resolve`);
    case 'tls':
      return notAccepted(f, 'CARRIER_TLS_FAILED', `${who}: TLS handshake failed`);
    case 'connect_timeout':
      return notAccepted(f, 'CARRIER_CONNECT_TIMEOUT', `${who}: connect timed out`);
    case 'response_timeout':
      return ambiguous('CARRIER_RESPONSE_TIMEOUT', `${who}: no response after the request was sent`);
    case 'reset':
      return ambiguous('CARRIER_CONNECTION_RESET', `${who}: connection broke after the request was sent`);
    case 'http':
      return classifyHttp(f);
    default:
      // 'unexpected', and any kind a newer adapter invents: we cannot know whether it was sent.
      return ambiguous('CARRIER_UNEXPECTED_ERROR', `${who}: the call failed in an unexpected way`);
  }
}

function classifyHttp(f: CarrierFailure): SendFailureClass {
  const who = f.carrier;
  const status = f.httpStatus;
  if (status === undefined || !Number.isInteger(status) || status < 100 || status > 599) {
    return ambiguous('CARRIER_UNEXPECTED_RESPONSE', `${who}: response without a valid HTTP status`);
  }
  // A failure with a non-error status is a 2xx without a message id (or an unexpected 1xx/3xx):
  // the carrier may have created the message, so only a receipt can tell.
  if (status < 400) {
    return ambiguous('CARRIER_UNEXPECTED_RESPONSE', `${who}: HTTP ${status} without a carrier message id`);
  }
  const carrierBody = f.hasCarrierBody ?? f.carrierCode !== undefined;
  const known = carrierCodeInfo(f.carrier, f.carrierCode);
  if (known) {
    // The carrier's code is more precise than the status (Telnyx opt-out is a 409, queue full a 429).
    const reason = `${who} ${f.carrierCode}: ${known.title}`;
    if (permanentCodes.has(known.code)) return permanent(known.code, reason);
    if (authCodes.has(known.code)) return notAccepted(f, known.code, reason, { alert: 'auth' });
    if (senderCodes.has(known.code))
      return notAccepted(f, known.code, reason, { counts: false, alert: 'config' });
    return notAccepted(f, known.code, reason);
  }
  const tag = f.carrierCode === undefined ? `HTTP ${status}` : `${f.carrierCode} (HTTP ${status})`;
  if (status === 401 || status === 403) {
    return notAccepted(f, 'CARRIER_AUTH_FAILED', `${who} ${tag}: credentials refused`, { alert: 'auth' });
  }
  if (status === 429) return notAccepted(f, 'CARRIER_RATE_LIMITED', `${who} ${tag}: too many requests`);
  if (status === 408) return notAccepted(f, 'CARRIER_REQUEST_TIMEOUT', `${who} ${tag}: request timeout`);
  if (status === 404 || status === 405) {
    return notAccepted(f, 'CARRIER_ENDPOINT_NOT_FOUND', `${who} ${tag}: endpoint not found`, {
      alert: 'config',
    });
  }
  if (status < 500) {
    return carrierBody
      ? permanent('CARRIER_REJECTED_UNCLASSIFIED', `${who} ${tag}: unclassified rejection`, 'unclassified')
      : notAccepted(f, 'CARRIER_HTTP_REFUSED', `${who} ${tag}: refused without a carrier error body`);
  }
  return carrierBody
    ? notAccepted(f, 'CARRIER_INTERNAL_ERROR', `${who} ${tag}: carrier error`)
    : ambiguous('CARRIER_OUTCOME_UNKNOWN', `${who} ${tag}: no carrier error body (gateway or proxy)`);
}

// Node, undici and axios error codes that prove the request never left (no socket, no TLS session).
const refusedCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
]);
const dnsCodes = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const responseTimeoutCodes = new Set(['ECONNABORTED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const resetCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_BAD_RESPONSE']);
// EPROTO is a handshake failure such as "wrong version number" (https to a plain-HTTP port).
const tlsCode =
  /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|EPROTO$|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$)/;

/** Maps a Node/undici/axios error code (and syscall) to a failure kind, for the carrier adapters. */
export function transportKindFromErrorCode(code: string | undefined, syscall?: string): FailureKind {
  if (code === undefined) return 'unexpected';
  if (refusedCodes.has(code)) return 'connect_refused';
  if (dnsCodes.has(code)) return 'dns';
  if (tlsCode.test(code)) return 'tls';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect_timeout';
  // ETIMEDOUT from the connect syscall is the kernel giving up on the handshake; any other ETIMEDOUT
  // (axios with clarifyTimeoutError, an idle socket) may come after the request was written.
  if (code === 'ETIMEDOUT') return syscall === 'connect' ? 'connect_timeout' : 'response_timeout';
  if (responseTimeoutCodes.has(code)) return 'response_timeout';
  if (resetCodes.has(code)) return 'reset';
  return 'unexpected';
}

/** Parses a Retry-After header (delta-seconds or HTTP-date) into whole seconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  // Only an HTTP-date may follow; Date.parse would also take "1.5" or "2026" as dates.
  if (!/[A-Za-z]/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}
