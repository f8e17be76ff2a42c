import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ControllerKeysDestroyedError,
  type E164,
  InvalidE164Error,
  PseudonymKey,
  pseudonymise,
  toControllerId,
  toE164,
} from '../src/index.ts';

const A = toControllerId('ctl-a');
const B = toControllerId('ctl-b');
const NUMBER = toE164('+4915112345678');

describe('pseudonymise', () => {
  it('matches HMAC-SHA256 over the E.164 text (known answer)', () => {
    const keyBytes = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const independent = `ps_${createHmac('sha256', keyBytes).update('+4915112345678', 'utf8').digest('base64url')}`;
    const pseudonym = pseudonymise(PseudonymKey.fromBytes(A, keyBytes), NUMBER);
    expect(pseudonym).toBe(independent);
    // Pinned from `openssl dgst -sha256 -mac HMAC -macopt hexkey:0001…1f`, so a change of encoding on both
    // sides of the comparison above still fails.
    expect(pseudonym).toBe('ps_RAUnfR3K45C1bGczpaDOpHN506a0y4DIWEJLvjtv51w');
  });

  it('is stable within a controller and differs between controllers', () => {
    const bytesA = randomBytes(32);
    const keyA = PseudonymKey.fromBytes(A, bytesA);
    const keyB = PseudonymKey.fromBytes(B, randomBytes(32));
    expect(pseudonymise(keyA, NUMBER)).toBe(pseudonymise(keyA, NUMBER));
    expect(pseudonymise(PseudonymKey.fromBytes(A, bytesA), NUMBER)).toBe(pseudonymise(keyA, NUMBER));
    expect(pseudonymise(keyA, NUMBER)).not.toBe(pseudonymise(keyB, NUMBER));
    expect(pseudonymise(keyA, NUMBER)).not.toBe(pseudonymise(keyA, toE164('+4915112345679')));
  });

  it('does not contain the number', () => {
    const pseudonym = pseudonymise(PseudonymKey.fromBytes(A, randomBytes(32)), NUMBER);
    expect(pseudonym).toMatch(/^ps_[A-Za-z0-9_-]{43}$/);
    expect(pseudonym).not.toContain('15112345678');
  });

  it('refuses a number that is not normalised E.164, at compile time and at run time', () => {
    const key = PseudonymKey.fromBytes(A, randomBytes(32));
    // @ts-expect-error a plain string is not an E164
    expect(() => pseudonymise(key, '+4915112345678')).not.toThrow();
    for (const raw of [
      '+49 151 12345678',
      '004915112345678',
      '4915112345678',
      '+49151-12345678',
      ' +4915112345678',
    ]) {
      let error: unknown;
      try {
        pseudonymise(key, raw as E164);
      } catch (e) {
        error = e;
      }
      expect(error, raw).toBeInstanceOf(InvalidE164Error);
      expect(String(error)).not.toContain('12345678');
    }
  });

  it('fails clearly once the key is destroyed', () => {
    const key = PseudonymKey.fromBytes(A, randomBytes(32));
    key.destroy();
    expect(() => pseudonymise(key, NUMBER)).toThrow(ControllerKeysDestroyedError);
  });

  it('refuses a key destroyed after use: its prepared key object does not outlive it', () => {
    const key = PseudonymKey.fromBytes(A, randomBytes(32));
    expect(pseudonymise(key, NUMBER)).toBe(pseudonymise(key, NUMBER));
    key.destroy();
    expect(() => pseudonymise(key, NUMBER)).toThrow(ControllerKeysDestroyedError);
  });
});
