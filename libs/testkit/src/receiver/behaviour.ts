// How a simulated customer endpoint answers a delivery whose signature checked out. The same shape is
// used in process (`receiver.setBehaviour`) and over HTTP (`POST /__admin/endpoints`), so it is
// validated here once, with messages that name the field.

/** What one endpoint does with a verified delivery; `hangMs` combines with any one of the others. */
export interface ReceiverBehaviour {
  /** Answer 500 to the first N attempts of each webhook-id (counted since this behaviour was set), then 2xx. */
  failFirst?: number;
  /** Always answer this status (e.g. 410, 503, 500). */
  status?: number;
  /** With `status` 429 or 503: send `Retry-After: <seconds>`. */
  retryAfterSeconds?: number;
  /** Answer 302 with this Location; a Standard Webhooks sender must not follow it. */
  redirectTo?: string;
  /** Wait this long before answering (a slow or dead endpoint); `close()` and the sender hanging up cut it short. */
  hangMs?: number;
  /** Answer with this text instead of the status's reason phrase (a receiver echoing what it got, personal data included). */
  body?: string;
}

/** Thrown for an endpoint name, secret list or behaviour that cannot be used (the admin API answers 400). */
export class ReceiverConfigError extends Error {
  override readonly name = 'ReceiverConfigError';
}

/** The status and headers to answer a verified delivery with. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body, when the behaviour names one (else the reason phrase). */
  readonly body?: string;
}

const MAX_HANG_MS = 600_000;
const MAX_FAIL_FIRST = 1_000;
const MAX_RETRY_AFTER_SECONDS = 86_400;
const MAX_BODY_CHARS = 65_536;
// Names are used verbatim as a path segment, so only characters that need no percent-encoding.
const ENDPOINT_NAME = /^[A-Za-z0-9._~-]{1,128}$/;
const HEADER_SAFE_URL = /^[\x21-\x7e]+$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkInteger(v: unknown, min: number, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ReceiverConfigError(`${where}: expected an integer in ${min}..${max}`);
  }
  return v;
}

/** Validates a behaviour and returns a copy holding only the fields that were set. */
export function checkBehaviour(input: unknown, where = 'behaviour'): ReceiverBehaviour {
  if (!isObject(input)) throw new ReceiverConfigError(`${where}: expected an object`);
  const allowed = ['failFirst', 'status', 'retryAfterSeconds', 'redirectTo', 'hangMs', 'body'];
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) throw new ReceiverConfigError(`${where}: unknown field "${key}"`);
  }
  const out: ReceiverBehaviour = {};
  if (input.failFirst !== undefined)
    out.failFirst = checkInteger(input.failFirst, 0, MAX_FAIL_FIRST, `${where}.failFirst`);
  if (input.status !== undefined) out.status = checkInteger(input.status, 200, 599, `${where}.status`);
  if (input.retryAfterSeconds !== undefined) {
    out.retryAfterSeconds = checkInteger(
      input.retryAfterSeconds,
      0,
      MAX_RETRY_AFTER_SECONDS,
      `${where}.retryAfterSeconds`,
    );
    if (out.status !== 429 && out.status !== 503) {
      throw new ReceiverConfigError(`${where}.retryAfterSeconds: only with status 429 or 503`);
    }
  }
  if (input.redirectTo !== undefined) {
    const v = input.redirectTo;
    if (typeof v !== 'string' || !HEADER_SAFE_URL.test(v) || !URL.canParse(v, 'http://receiver.invalid')) {
      throw new ReceiverConfigError(`${where}.redirectTo: expected a URL (printable ASCII, no spaces)`);
    }
    out.redirectTo = v;
  }
  if (input.body !== undefined) {
    if (typeof input.body !== 'string' || input.body.length > MAX_BODY_CHARS) {
      throw new ReceiverConfigError(
        `${where}.body: expected a string of at most ${MAX_BODY_CHARS} characters`,
      );
    }
    out.body = input.body;
  }
  if (input.hangMs !== undefined) out.hangMs = checkInteger(input.hangMs, 0, MAX_HANG_MS, `${where}.hangMs`);
  const answers = ['failFirst', 'status', 'redirectTo'].filter((k) => k in out);
  if (answers.length > 1) {
    throw new ReceiverConfigError(`${where}: failFirst, status and redirectTo are exclusive`);
  }
  return out;
}

/** Validates an endpoint name: 1–128 characters from A–Z a–z 0–9 . _ ~ - (it becomes a URL path segment). */
export function checkEndpointName(input: unknown): string {
  if (typeof input !== 'string' || !ENDPOINT_NAME.test(input)) {
    throw new ReceiverConfigError('name: expected 1-128 characters from A-Z a-z 0-9 . _ ~ -');
  }
  return input;
}

/** The answer to a verified delivery; `attempt` is 1-based per webhook-id since the behaviour was set. */
export function answerFor(behaviour: ReceiverBehaviour, attempt: number): Answer {
  const answer = statusFor(behaviour, attempt);
  return behaviour.body === undefined ? answer : { ...answer, body: behaviour.body };
}

function statusFor(behaviour: ReceiverBehaviour, attempt: number): Answer {
  if (behaviour.redirectTo !== undefined) return { status: 302, headers: { location: behaviour.redirectTo } };
  if (behaviour.status !== undefined) {
    const headers: Record<string, string> = {};
    if (behaviour.retryAfterSeconds !== undefined)
      headers['retry-after'] = String(behaviour.retryAfterSeconds);
    return { status: behaviour.status, headers };
  }
  if (behaviour.failFirst !== undefined && attempt <= behaviour.failFirst)
    return { status: 500, headers: {} };
  return { status: 200, headers: {} };
}
