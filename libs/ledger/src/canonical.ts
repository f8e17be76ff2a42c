import canonicalize from 'canonicalize';
import { CanonicalEncodingError } from './errors.ts';

/** Audit entries are shallow; a deeper value is a bug (or a cycle), not an entry. */
const MAX_DEPTH = 32;

/**
 * The RFC 8785 (JCS) canonical JSON of `value`, as UTF-8 bytes: the exact bytes an entry is hashed as.
 *
 * Stricter than JCS on purpose, so that one logical entry has exactly one encoding and any verifier,
 * in any language, reproduces it:
 * - numbers must be integers within ±(2^53−1): floats have several plausible spellings across
 *   implementations, and larger integers do not survive a round trip through a double;
 * - strings and object keys must be well-formed Unicode in NFC: canonically equivalent strings would
 *   otherwise hash differently. We refuse rather than normalise, because silently changing the data
 *   before hashing it would defeat the point of hashing exact bytes;
 * - only null, booleans, strings, numbers, arrays and plain objects: `undefined`, functions, bigints,
 *   Dates and other class instances are refused instead of being dropped or `toJSON`-converted.
 * Throws CanonicalEncodingError naming the offending path (never the value).
 */
export function canonicalBytes(value: unknown): Uint8Array {
  check(value, '$', 0);
  const text = canonicalize(value);
  // check() admits only values canonicalize() serialises, so this is unreachable; keep the type honest.
  if (text === undefined) throw new CanonicalEncodingError('$', 'not representable as JSON');
  return Buffer.from(text, 'utf8');
}

function check(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new CanonicalEncodingError(path, `nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'boolean':
      return;
    case 'string':
      checkString(value, path, 'a string');
      return;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new CanonicalEncodingError(
          path,
          Number.isInteger(value) ? 'an integer beyond ±(2^53−1)' : 'not an integer (floats are not allowed)',
        );
      }
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) check(value[i], `${path}[${i}]`, depth + 1);
        return;
      }
      checkObject(value, path, depth);
      return;
    default:
      throw new CanonicalEncodingError(path, `a ${typeof value}, which JSON cannot represent`);
  }
}

function checkObject(value: object, path: string, depth: number): void {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const kind = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
    throw new CanonicalEncodingError(path, `an instance of ${kind}, not a plain object`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) {
    throw new CanonicalEncodingError(path, 'an object with symbol keys');
  }
  Object.entries(value).forEach(([key, child], i) => {
    // Identifier-like keys are field names and safe to show; any other key could be data (a map keyed
    // by a number or a name), so the path names it by position only.
    const childPath = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key) ? `${path}.${key}` : `${path}[key #${i}]`;
    checkString(key, childPath, 'a key');
    check(child, childPath, depth + 1);
  });
}

function checkString(text: string, path: string, what: string): void {
  if (!text.isWellFormed()) throw new CanonicalEncodingError(path, `${what} with a lone surrogate`);
  if (text.normalize('NFC') !== text) throw new CanonicalEncodingError(path, `${what} not in Unicode NFC`);
}
