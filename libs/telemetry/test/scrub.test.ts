import { describe, expect, it } from 'vitest';
import {
  EMAIL_PLACEHOLDER as EM,
  PHONE_PLACEHOLDER as PH,
  SensitiveStrings,
  scrubString,
  scrubValue,
  sensitiveStrings,
  TEXT_PLACEHOLDER as TX,
} from '../src/index.ts';

describe('scrubString', () => {
  it.each([
    ['+14155550123', PH],
    ['+1 415-555-0123', PH],
    ['+1 (415) 555 0123', PH],
    ['+44 20 7946 0958', PH],
    ['+33.6.12.34.56.78', PH],
    ['tel:+4915112345678;ext=1', `tel:${PH};ext=1`],
    ['to=+14155550123&from=+14155550124', `to=${PH}&from=${PH}`],
    ['jane@example.com', EM],
    ['Jane.Doe+tag@mail.example.org!', `${EM}!`],
    ['<ops-team@massivesms.io>', `<${EM}>`],
    // Without "+", URL-encoded, JSON-escaped, with dialling prefixes, in JSON and query strings.
    ['14155550123', PH],
    ['offset 14155550123', `offset ${PH}`],
    ['%2B14155550123', PH],
    ['to=%2B1%20415%20555%200123&x=1', `to=${PH}&x=1`],
    ['to=+1+415+555+0123', `to=${PH}`],
    ['\\u002B14155550123', PH],
    ['{"to":"14155550123","n":1}', `{"to":"${PH}","n":1}`],
    ['{"to":"+1 (415) 555-0123"}', `{"to":"${PH}"}`],
    ['00 44 20 7946 0958', PH],
    ['0044 20 7946 0958', PH],
    ['011 44 7911 123456', PH],
    ['447911123456', PH],
    ['1.415.555.0123', PH],
    ['1-415-555-0123', PH],
    ['(1) 415 555 0123', PH],
    ['+1\u00a0415\u00a0555\u00a00123', PH],
    ['batch 3 14155550123', `batch 3 ${PH}`],
    ['carrier: destination 4915112345678 unreachable', `carrier: destination ${PH} unreachable`],
  ])('replaces %j', (input, output) => {
    expect(scrubString(input)).toBe(output);
  });

  it.each([
    '12345',
    '+12345',
    '+250ms',
    '2024-05-01T10:00:00.000+02:00',
    'us.sms.requested.v1',
    'file:///app/node_modules/.pnpm/pino@10.4.0/node_modules/pino/lib/proto.js:12:3',
    '@massivesms/config',
    'user@localhost',
    '+1234567890123456789',
    // Ids, offsets, timestamps and durations stay whole.
    '550e8400-e29b-41d4-a716-446655440000',
    '123e4567-e89b-12d3-a456-426614174000',
    '00000000-0000-0000-0000-000000000000',
    'offset 1234567',
    'partition 3 offset 987654321',
    '1764857049123',
    '1764857049',
    '2026-12-04T14:04:09.123Z',
    '2026-12-04 14:04:09',
    '20261204140409',
    'sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'msg-14155550123',
    'v1.14155550123',
    'took 12345678ms',
    '10.0.0.1:19092',
    '0000000000',
    'ps_14155550123abc',
  ])('keeps %j', (input) => {
    expect(scrubString(input)).toBe(input);
  });
});

describe('personal strings', () => {
  it('replaces the strings a caller names, and those registered with the process until they expire', () => {
    expect(
      scrubString('carrier said: Hello Jane, your code is 1234', ['Hello Jane, your code is 1234']),
    ).toBe(`carrier said: ${TX}`);
    let now = 0;
    const registry = new SensitiveStrings({ maxEntries: 2, ttlMs: 1000, now: () => now });
    registry.add('Jane Doe', 'abc', undefined);
    expect(registry.size).toBe(1); // too short to be told apart from ordinary words
    expect(registry.scrub('name Jane Doe!')).toBe(`name ${TX}!`);
    registry.add('second body', 'third body');
    expect(registry.size).toBe(2); // bounded: the oldest went first
    expect(registry.scrub('Jane Doe and third body')).toBe(`Jane Doe and ${TX}`);
    now = 1000;
    expect(registry.scrub('third body')).toBe('third body'); // expired
    expect(registry.size).toBe(0);
  });

  it('the process registry applies to every scrub', () => {
    sensitiveStrings.add('Ünïcode body 🙂');
    try {
      expect(scrubValue({ err: new Error('echo: Ünïcode body 🙂') })).toMatchObject({
        err: { message: `echo: ${TX}` },
      });
    } finally {
      sensitiveStrings.clear();
    }
    expect(scrubString('Ünïcode body 🙂')).toBe('Ünïcode body 🙂');
  });
});

describe('scrubValue', () => {
  it('bounds depth and breadth like pino does', () => {
    const deep = { a: { b: { c: { d: { e: { f: { g: { h: { i: '+14155550123' } } } } } } } } };
    const wide = Array.from({ length: 150 }, (_, i) => i);

    expect(JSON.stringify(scrubValue(deep))).toContain('[Object]');
    expect(scrubValue(wide)).toHaveLength(101);
  });

  it('passes numbers, booleans, null and binary data through', () => {
    const bytes = Buffer.from('+14155550123');

    expect(scrubValue({ n: 14155550123, b: true, z: null, bytes })).toEqual({
      n: 14155550123,
      b: true,
      z: null,
      bytes,
    });
  });
});
