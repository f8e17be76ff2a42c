import { describe, expect, it } from 'vitest';
import { EMAIL_PLACEHOLDER as EM, PHONE_PLACEHOLDER as PH, scrubString, scrubValue } from '../src/index.ts';

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
  ])('replaces %j', (input, output) => {
    expect(scrubString(input)).toBe(output);
  });

  it.each([
    '12345',
    'offset 14155550123',
    '+12345',
    '+250ms',
    '2024-05-01T10:00:00.000+02:00',
    'us.sms.requested.v1',
    'file:///app/node_modules/.pnpm/pino@10.4.0/node_modules/pino/lib/proto.js:12:3',
    '@massivesms/config',
    'user@localhost',
    '+1234567890123456789',
  ])('keeps %j', (input) => {
    expect(scrubString(input)).toBe(input);
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
