import { describe, expect, it } from 'vitest';
import {
  InvalidControllerIdError,
  InvalidE164Error,
  isControllerId,
  isE164,
  isRegion,
  toControllerId,
  toE164,
} from '../src/index.ts';

describe('E164', () => {
  it('accepts "+" and 8 to 15 digits with a non-zero first digit', () => {
    for (const ok of ['+12025550123', '+4915112345678', '+12345678', '+123456789012345']) {
      expect(isE164(ok), ok).toBe(true);
      expect(toE164(ok)).toBe(ok);
    }
  });

  it('refuses anything not already normalised', () => {
    const bad = [
      '4915112345678', // no plus
      '+04915112345678', // leading zero
      '+1234567', // 7 digits
      '+1234567890123456', // 16 digits
      '+49 151 12345678',
      '+49-151-12345678',
      '+4915112345678\n',
      '+٤٩١٥١١٢٣٤٥٦٧٨', // Arabic-Indic digits
      '',
    ];
    for (const value of bad) {
      expect(isE164(value), JSON.stringify(value)).toBe(false);
      expect(() => toE164(value), JSON.stringify(value)).toThrow(InvalidE164Error);
    }
    expect(isE164(4915112345678)).toBe(false);
  });

  it('keeps the refused number out of the error', () => {
    const error = catchError(() => toE164('+49 151 98765432'));
    expect(error).toBeInstanceOf(InvalidE164Error);
    expect((error as InvalidE164Error).code).toBe('PRIVACY_INVALID_E164');
    expect(String(error)).not.toContain('98765432');
  });
});

describe('ControllerId', () => {
  it('accepts typical ids and refuses empty, oversized or odd ones', () => {
    for (const ok of ['acme', 'ctl_01HZX', 'acme-eu.prod:1', '3f2504e0-4f89-11d3-9a0c-0305e82c3301']) {
      expect(toControllerId(ok)).toBe(ok);
    }
    for (const bad of ['', '.acme', 'acme corp', 'a/b', 'x'.repeat(129), 'ctl\n']) {
      expect(isControllerId(bad), JSON.stringify(bad)).toBe(false);
      expect(() => toControllerId(bad)).toThrow(InvalidControllerIdError);
    }
    expect(isControllerId('x'.repeat(128))).toBe(true);
  });
});

describe('Region', () => {
  it('knows exactly us and eu', () => {
    expect(isRegion('us')).toBe(true);
    expect(isRegion('eu')).toBe(true);
    expect(isRegion('EU')).toBe(false);
    expect(isRegion('apac')).toBe(false);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
