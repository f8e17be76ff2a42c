import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { stdSerializers } from 'pino';

/** Replaces an E.164-looking phone number in logged strings. */
export const PHONE_PLACEHOLDER = '[redacted:phone]';
/** Replaces an e-mail address in logged strings. */
export const EMAIL_PLACEHOLDER = '[redacted:email]';
/** Replaces a string the process was told is personal (a message body, a name). */
export const TEXT_PLACEHOLDER = '[redacted:text]';

// A phone number in any written form: an optional international prefix ("+", URL-encoded "%2B",
// JSON-escaped "\u002B"), then 7–18 digits with up to three separators between any two (space,
// no-break space, dot, dash, slash, parentheses, URL-encoded space "%20", form-encoded "+").
// Not inside a word or right after "x-"/"x." (UUID groups, versions, dotted ids), not followed by a
// letter or digit. Which candidates are numbers is decided in `phone` below.
const SEP = String.raw`(?:[ \u00a0.\-/()]|%20|\+(?=\d)){0,3}`;
const PHONE = new RegExp(
  String.raw`(?<![\w%+\\]|\w[-.])(\+|%2[Bb]|\\u002[Bb])?${SEP}\d(?:${SEP}\d){6,17}(?!\w)`,
  'g',
);
const NON_DIGITS = /\D/g;
// Bounded parts (RFC 5321 limits) keep the scan linear on long strings without an address.
const EMAIL = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b/g;
// A run of seven digits (separators allowed) is where any phone number starts: strings without one
// (most log lines) skip the phone scan.
const SEVEN_DIGITS = /\d(?:\D{0,3}\d){6}/;

// Validating costs ~50 µs (libphonenumber-js builds its metadata view per call): verdicts of bare digit
// runs are remembered, so a repeated id or offset is judged once.
const VERDICTS_MAX = 1024;
const verdicts = new Map<string, boolean>();

function validInternational(digits: string): boolean {
  let verdict = verdicts.get(digits);
  if (verdict === undefined) {
    verdict = digits.length >= 8 && digits.length <= 15 && isValidPhoneNumber(`+${digits}`);
    if (verdicts.size >= VERDICTS_MAX) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(digits, verdict);
  }
  return verdict;
}

/**
 * Whether a candidate is a phone number. With an explicit "+" any 7–15 digits not starting with 0
 * count (a carrier's own format may be unknown to the metadata). Without one the digits must make a
 * valid number once read as international: after a dialling prefix (00, 011) or as they stand
 * (14155550123); ids, offsets and timestamps rarely do (a 13-digit epoch in ms is no NANP number).
 */
function isPhone(prefix: string | undefined, digits: string): boolean {
  if (prefix !== undefined) return digits.length >= 7 && digits.length <= 15 && digits[0] !== '0';
  if (digits.startsWith('011')) return validInternational(digits.slice(3));
  if (digits.startsWith('00')) return validInternational(digits.slice(2));
  return digits.length >= 10 && validInternational(digits);
}

function phone(match: string, prefix: string | undefined): string {
  const digits = match
    .slice(prefix?.length ?? 0)
    .replaceAll('%20', '')
    .replace(NON_DIGITS, '');
  if (isPhone(prefix, digits)) {
    return PHONE_PLACEHOLDER;
  }
  // The run may have swallowed a neighbouring number ("batch 3 14155550123"): try without its first group.
  const rest = /^(?:\+|%2[Bb])?\d+(?:[ \u00a0]|%20)+(?=\d)/.exec(match);
  return rest ? rest[0] + match.slice(rest[0].length).replace(PHONE, phone) : match;
}

/**
 * Strings the process was told are personal (message bodies, names), to be replaced wherever they
 * appear in a logged or stored text. Bounded in size (oldest dropped first) and in time (entries
 * expire), so a busy process holds only what it handled recently; each scrub checks every live entry
 * (`includes`), so the bound is also what a log line costs at most.
 */
export class SensitiveStrings {
  readonly #entries = new Map<string, number>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}) {
    this.#max = options.maxEntries ?? 64;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Strings shorter than this are not remembered: they would cut words out of every line. */
  static readonly MIN_LENGTH = 4;

  /** Remembers personal strings (empty and short ones are ignored). */
  add(...texts: readonly (string | undefined)[]): void {
    const expires = this.#now() + this.#ttlMs;
    for (const text of texts) {
      if (text === undefined || text.length < SensitiveStrings.MIN_LENGTH) continue;
      this.#entries.delete(text); // re-inserted at the end: the newest is dropped last
      this.#entries.set(text, expires);
      if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Replaces every live entry found in `text`; drops the expired ones it meets. */
  scrub(text: string): string {
    if (this.#entries.size === 0) return text;
    const now = this.#now();
    let out = text;
    for (const [entry, expires] of this.#entries) {
      if (expires <= now) {
        this.#entries.delete(entry);
        continue;
      }
      if (out.includes(entry)) out = out.replaceAll(entry, TEXT_PLACEHOLDER);
    }
    return out;
  }
}

/** The process's registry, consulted by every scrub (the logger's included). */
export const sensitiveStrings = new SensitiveStrings();

/**
 * Replaces phone numbers (any written form), e-mail addresses, the process's registered personal
 * strings and `personal` (strings the caller knows are personal: the body and name it handled) in
 * free text with placeholders.
 */
export function scrubString(text: string, personal?: readonly (string | undefined)[]): string {
  let out = text;
  if (personal !== undefined) {
    for (const p of personal) {
      if (p !== undefined && p.length >= SensitiveStrings.MIN_LENGTH && out.includes(p)) {
        out = out.replaceAll(p, TEXT_PLACEHOLDER);
      }
    }
  }
  out = sensitiveStrings.scrub(out);
  if (out.includes('@')) {
    out = out.replace(EMAIL, EMAIL_PLACEHOLDER);
  }
  if (SEVEN_DIGITS.test(out)) {
    out = out.replace(PHONE, phone);
  }
  return out;
}

function isError(value: object): value is Error {
  // toString tag too, for Errors from another realm (vm contexts, worker messages).
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

// Same limits pino applies when it stringifies, so scrubbing costs no more than logging does.
const MAX_DEPTH = 8;
const MAX_ENTRIES = 100;

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
