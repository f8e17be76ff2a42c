import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CanonicalJsonError,
  canonicalJson,
  InvalidInstructionError,
  instructionHash,
  PrivacyError,
} from '../src/index.ts';

describe('canonicalJson', () => {
  it.each([
    ['flat keys', { b: 1, a: 2 }, { a: 2, b: 1 }],
    [
      'nested keys',
      { z: { y: [{ b: true, a: null }], x: 'x' }, a: 0 },
      { a: 0, z: { x: 'x', y: [{ a: null, b: true }] } },
    ],
    ['undefined properties', { a: 1, b: undefined }, { a: 1 }],
  ])('gives one form for equal documents regardless of key order: %s', (_, left, right) => {
    expect(canonicalJson(left)).toBe(canonicalJson(right));
  });

  it('writes sorted keys and no whitespace', () => {
    const value = { b: [3, { d: true, c: null }], a: 'x y', é: -1.5 };
    expect(canonicalJson(value)).toBe('{"a":"x y","b":[3,{"c":null,"d":true}],"é":-1.5}');
  });

  it('keeps array order, because it carries meaning (primary carrier first)', () => {
    expect(canonicalJson(['telnyx', 'twilio'])).toBe('["telnyx","twilio"]');
    expect(canonicalJson(['telnyx', 'twilio'])).not.toBe(canonicalJson(['twilio', 'telnyx']));
  });

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it.each([
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
    [0.000001, '0.000001'],
    [Number('333333333.33333329'), '333333333.3333333'], // more digits than a double holds
    [-0, '0'],
    [4.5, '4.5'],
    [2e-3, '0.002'],
    [1e-27, '1e-27'],
  ])('writes the number %d as %s (RFC 8785 number form)', (value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { a: 1 };
    expect(canonicalJson({ x: shared, y: [shared] })).toBe('{"x":{"a":1},"y":[{"a":1}]}');
  });

  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = { again: cycle };

  it.each([
    ['NaN', { n: Number.NaN }, '$.n'],
    ['Infinity', [Number.POSITIVE_INFINITY], '$[0]'],
    ['a bigint', { n: 1n }, '$.n'],
    ['a Date', { at: new Date(0) }, '$.at'],
    ['a Map', new Map(), '$'],
    ['a function', { f: () => 1 }, '$.f'],
    ['undefined at the top', undefined, '$'],
    ['undefined in an array', [1, undefined], '$[1]'],
    ['a cycle', cycle, '$.self.again'],
    ['an odd key', { 'a b': Symbol('s') }, '$["a b"]'],
  ])('refuses %s instead of silently rewriting it', (_, value, path) => {
    try {
      canonicalJson(value);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CanonicalJsonError);
      expect(error).toBeInstanceOf(PrivacyError);
      expect((error as CanonicalJsonError).code).toBe('PRIVACY_CANONICAL_JSON_UNSUPPORTED');
      expect((error as CanonicalJsonError).path).toBe(path);
    }
  });
});

describe('instructionHash', () => {
  const doc = {
    subprocessors: ['telnyx', 'twilio'],
    storeContentAfterDispatch: false,
    retention: { metadataDays: 365, contentDays: 7 },
    purposes: ['marketing.communications.sms', 'essential.service.notifications.sms'],
    quietHours: { timeZone: 'Europe/Berlin', action: 'hold', end: '08:00', start: '21:00' },
  };
  const CANONICAL =
    '{"purposes":["essential.service.notifications.sms","marketing.communications.sms"],' +
    '"quietHours":{"action":"hold","end":"08:00","start":"21:00","timeZone":"Europe/Berlin"},' +
    '"retention":{"contentDays":7,"metadataDays":365},"storeContentAfterDispatch":false,' +
    '"subprocessors":["telnyx","twilio"]}';

  it('is the sha256 of the canonical JSON of the normalised document (known answer)', () => {
    const expected = createHash('sha256').update(CANONICAL, 'utf8').digest('hex');
    expect(instructionHash(doc)).toBe(expected);
    expect(instructionHash(doc)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['keys in another order', { ...doc, retention: { contentDays: 7, metadataDays: 365 } }],
    ['purposes in another order', { ...doc, purposes: [...doc.purposes].reverse() }],
    ['a repeated purpose', { ...doc, purposes: [...doc.purposes, doc.purposes[0]] }],
    ['an empty transfer-mechanism map', { ...doc, transferMechanisms: {} }],
    ['an explicit undefined', { ...doc, transferMechanisms: undefined }],
  ])('is unchanged by %s', (_, variant) => {
    expect(instructionHash(variant)).toBe(instructionHash(doc));
  });

  it.each([
    ['another carrier order', { ...doc, subprocessors: ['twilio', 'telnyx'] }],
    ['another retention', { ...doc, retention: { contentDays: 8, metadataDays: 365 } }],
    ['content storage switched on', { ...doc, storeContentAfterDispatch: true }],
    ['a transfer mechanism', { ...doc, transferMechanisms: { twilio: 'EU-US DPF' } }],
    ['no quiet hours', { ...doc, quietHours: undefined }],
  ])('changes with %s', (_, variant) => {
    expect(instructionHash(variant)).not.toBe(instructionHash(doc));
  });

  it('refuses to hash a document that is not an instruction', () => {
    expect(() => instructionHash({ ...doc, purposes: ['functional.service.improve'] })).toThrow(
      InvalidInstructionError,
    );
  });
});
