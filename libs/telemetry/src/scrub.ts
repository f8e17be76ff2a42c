import { stdSerializers } from 'pino';

/** Replaces an E.164-looking phone number in logged strings. */
export const PHONE_PLACEHOLDER = '[redacted:phone]';
/** Replaces an e-mail address in logged strings. */
export const EMAIL_PLACEHOLDER = '[redacted:email]';

// "+" then 7–15 digits, allowing the separators people and carriers write (+1 (415) 555-0123,
// +44 20 7946 0958). The leading "+" is what keeps offsets, durations and ids (12345) untouched.
const PHONE = /\+[1-9](?:[ .\-()]{0,2}\d){6,14}(?!\d)/g;
// Bounded parts (RFC 5321 limits) keep the scan linear on long strings without an address.
const EMAIL = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b/g;

// Same limits pino applies when it stringifies, so scrubbing costs no more than logging does.
const MAX_DEPTH = 8;
const MAX_ENTRIES = 100;

/** Replaces phone numbers and e-mail addresses in free text with placeholders. */
export function scrubString(text: string): string {
  let out = text;
  if (out.includes('@')) {
    out = out.replace(EMAIL, EMAIL_PLACEHOLDER);
  }
  if (out.includes('+')) {
    out = out.replace(PHONE, PHONE_PLACEHOLDER);
  }
  return out;
}

function isError(value: object): value is Error {
  // toString tag too, for Errors from another realm (vm contexts, worker messages).
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

function scrub(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') {
    return scrubString(value);
  }
  if (typeof value !== 'object' || value === null) {
    return value;
  }
  if (seen.has(value)) {
    return '[Circular]';
  }
  if (depth >= MAX_DEPTH) {
    return Array.isArray(value) ? '[Array]' : '[Object]';
  }
  if (ArrayBuffer.isView(value)) {
    return value;
  }
  seen.add(value);
  try {
    if (isError(value)) {
      // Serialise here (message and stack with causes), so an Error anywhere in the record is scrubbed.
      return scrub(stdSerializers.err(value), depth, seen);
    }
    if (Array.isArray(value)) {
      const items = value.slice(0, MAX_ENTRIES).map((item) => scrub(item, depth + 1, seen));
      if (value.length > MAX_ENTRIES) {
        items.push(`... ${value.length - MAX_ENTRIES} more items`);
      }
      return items;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      // Dates, URLs (mailto:, tel:) and config objects log what toJSON returns: scrub that.
      return scrub(toJSON.call(value), depth, seen);
    }
    const out: Record<string, unknown> = {};
    let count = 0;
    for (const key of Object.keys(value)) {
      if (count++ === MAX_ENTRIES) {
        out['...'] = `${Object.keys(value).length - MAX_ENTRIES} more keys`;
        break;
      }
      // Keys too: a map keyed by recipient is as personal as its values.
      out[scrubString(key)] = scrub((value as Record<string, unknown>)[key], depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Returns a JSON-shaped copy of any value with phone numbers and e-mail addresses in every string (and key) replaced. */
export function scrubValue(value: unknown): unknown {
  return scrub(value, 0, new WeakSet());
}
