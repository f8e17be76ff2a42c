import { createHash } from 'node:crypto';
import { PrivacyError } from './errors.ts';
import { parseInstruction } from './instructions.ts';

/** A value has no single JSON form (NaN, bigint, a Date, a cycle…), so it cannot be hashed reproducibly. */
export class CanonicalJsonError extends PrivacyError {
  override readonly name = 'CanonicalJsonError';
  override readonly code = 'PRIVACY_CANONICAL_JSON_UNSUPPORTED';
  /** Where the value sits, e.g. `$.retention.contentDays`. */
  readonly path: string;
  constructor(context: { path: string; reason: string }) {
    super(`cannot canonicalise ${context.path}: ${context.reason}`);
    this.path = context.path;
  }
}

/**
 * Canonical JSON in the spirit of RFC 8785 (JCS): object keys sorted by UTF-16 code units, no whitespace,
 * arrays in order, ECMAScript number and string forms. Properties whose value is undefined are left out
 * (as JSON.stringify does), so `{ a: undefined }` and `{}` agree. Anything JSON.stringify would silently
 * rewrite (NaN → null, Dates → strings, undefined in arrays → null) is refused instead, because two
 * different inputs must never share one hash.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, '$', out, new Set());
  return out.join('');
}

function write(value: unknown, path: string, out: string[], ancestors: Set<object>): void {
  const fail = (reason: string) => new CanonicalJsonError({ path, reason });
  switch (typeof value) {
    case 'string':
    case 'boolean':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isFinite(value)) throw fail(`${value} has no JSON form`);
      out.push(JSON.stringify(value)); // also turns -0 into 0, as JCS does
      return;
    case 'object':
      break;
    default:
      throw fail(`${typeof value} has no JSON form`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (ancestors.has(value)) throw fail('the value contains itself');
  ancestors.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, index) => {
      if (index > 0) out.push(',');
      write(item, `${path}[${index}]`, out, ancestors);
    });
    out.push(']');
  } else {
    const proto = Object.getPrototypeOf(value);
    // Dates, Maps, Buffers… have toJSON or no own keys: their JSON form is not what they mean.
    if (proto !== Object.prototype && proto !== null) throw fail('only plain objects and arrays are allowed');
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is exactly the JCS key order.
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort();
    out.push('{');
    keys.forEach((key, index) => {
      if (index > 0) out.push(',');
      out.push(JSON.stringify(key), ':');
      const step = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
      write(record[key], `${path}${step}`, out, ancestors);
    });
    out.push('}');
  }
  ancestors.delete(value);
}

/**
 * SHA-256 (hex) of the canonical JSON of the validated, normalised instruction: the `#sha256` part of an
 * `id@version#sha256` reference. Throws InvalidInstructionError for a document that fails the schema.
 */
export function instructionHash(doc: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(parseInstruction(doc)), 'utf8')
    .digest('hex');
}
