import { EMAIL_PATTERN, redactPhoneNumbers } from '@massivesms/contracts';
import { stdSerializers } from 'pino';

/** Replaces an E.164-looking phone number in logged strings. */
export const PHONE_PLACEHOLDER = '[redacted:phone]';
/** Replaces an e-mail address in logged strings. */
export const EMAIL_PLACEHOLDER = '[redacted:email]';
/** Replaces a string the process was told is personal (a message body, a name). */
export const TEXT_PLACEHOLDER = '[redacted:text]';

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
    out = out.replace(EMAIL_PATTERN, EMAIL_PLACEHOLDER);
  }
  return redactPhoneNumbers(out, PHONE_PLACEHOLDER);
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
