import { describe, expect, it } from 'vitest';
import { CanonicalEncodingError, canonicalBytes } from '../src/index.ts';

const text = (value: unknown) => Buffer.from(canonicalBytes(value)).toString('utf8');

function refusal(value: unknown): CanonicalEncodingError {
  try {
    canonicalBytes(value);
  } catch (error) {
    expect(error).toBeInstanceOf(CanonicalEncodingError);
    return error as CanonicalEncodingError;
  }
  throw new Error('expected a refusal');
}

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units, drops whitespace, escapes as JCS says', () => {
    // Key order from RFC 8785 §3.2.3's example: code-unit order, so "\u20ac" (€) sorts after "\r" and "1".
    expect(text({ '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '1': 'One', '\u0080': 'Control' })).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","€":"Euro Sign"}',
    );
    expect(text({ b: [1, { d: true, c: null }], a: 'x\ny"' })).toBe(
      '{"a":"x\\ny\\"","b":[1,{"c":null,"d":true}]}',
    );
  });

  it('is the UTF-8 of that text, byte for byte', () => {
    expect(Buffer.from(canonicalBytes({ name: 'é' })).toString('hex')).toBe(
      Buffer.from('{"name":"é"}', 'utf8').toString('hex'),
    );
  });

  it('the same entry written in any key order gives the same bytes', () => {
    expect(text({ seq: 1, kind: 'intake', at: 5 })).toBe(text({ at: 5, kind: 'intake', seq: 1 }));
  });

  it.each([
    [{ cost: 0.5 }, '$.cost', 'not an integer'],
    [{ n: Number.NaN }, '$.n', 'not an integer'],
    [{ n: Number.POSITIVE_INFINITY }, '$.n', 'not an integer'],
    [{ n: 2 ** 53 }, '$.n', 'beyond'],
    [{ list: [1, 2, 3.25] }, '$.list[2]', 'not an integer'],
  ])('refuses a number that is not a safe integer: %j', (value, path, problem) => {
    const error = refusal(value);
    expect(error.path).toBe(path);
    expect(error.message).toContain(problem);
  });

  it('refuses strings and keys not in NFC, without echoing them', () => {
    const decomposed = 'Cafe\u0301'; // "Café" as e + combining acute accent
    const error = refusal({ note: decomposed });
    expect(error.path).toBe('$.note');
    expect(error.message).toBe('cannot encode canonically: $.note is a string not in Unicode NFC');
    expect(refusal({ [decomposed]: 1 }).path).toBe('$[key #0]');
    expect(text({ note: decomposed.normalize('NFC') })).toBe('{"note":"Café"}');
  });

  it('refuses lone surrogates', () => {
    expect(refusal({ s: '\ud800' }).message).toContain('lone surrogate');
  });

  it.each([
    [{ a: undefined }, 'a undefined'],
    [{ a: 1n }, 'a bigint'],
    [{ a: () => 1 }, 'a function'],
    [{ a: new Date(0) }, 'an instance of Date'],
    [{ a: new Map() }, 'an instance of Map'],
    [{ a: [1, undefined, 3] }, 'a undefined'],
  ])('refuses values JSON would drop or convert: %o', (value, problem) => {
    expect(refusal(value).message).toContain(problem);
  });

  it('refuses cycles and absurd nesting instead of overflowing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refusal(cyclic).message).toContain('nested deeper than');
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    expect(text(bare)).toBe('{"a":2,"b":1}');
  });
});
