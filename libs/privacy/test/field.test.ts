import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ControllerKeysDestroyedError,
  DataKey,
  DecryptionFailedError,
  decryptField,
  encryptField,
  type FieldContext,
  InvalidFieldContextError,
  InvalidKeyMaterialError,
  KeyMismatchError,
  toControllerId,
} from '../src/index.ts';

const A = toControllerId('ctl-a');
const B = toControllerId('ctl-b');
const keyBytesA = randomBytes(32);
const keyA = DataKey.fromBytes(A, keyBytesA);
const ctx: FieldContext = { controllerId: A, recordId: 'msg-1', field: 'body' };
const CANARY = 'CANARY-body: call +4915112345678 about Zoë';

describe('encryptField / decryptField', () => {
  it('round-trips text, including empty and non-ASCII strings', () => {
    for (const plaintext of [CANARY, '', '☎️ 電話 \u0000 end', 'x'.repeat(10_000)]) {
      const sealed = encryptField(keyA, plaintext, ctx);
      expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
      expect(decryptField(keyA, sealed, ctx)).toBe(plaintext);
    }
  });

  it('uses a fresh IV each time, so equal values do not produce equal ciphertexts', () => {
    const first = encryptField(keyA, CANARY, ctx);
    const second = encryptField(keyA, CANARY, ctx);
    expect(first).not.toBe(second);
    expect(first.split('.')[1]).not.toBe(second.split('.')[1]);
  });

  it('never shows the plaintext in the serialised ciphertext', () => {
    const sealed = encryptField(keyA, CANARY, ctx);
    const plain = Buffer.from(CANARY, 'utf8');
    expect(sealed).not.toContain('CANARY');
    expect(sealed).not.toContain('4915112345678');
    expect(sealed).not.toContain(plain.toString('base64url').slice(0, 12));
    expect(sealed).not.toContain(plain.toString('base64').slice(0, 12));
    expect(sealed).not.toContain(plain.toString('hex').slice(0, 12));
  });

  describe('detects tampering', () => {
    const sealed = encryptField(keyA, CANARY, ctx);
    const [, ivText, bodyText] = sealed.split('.') as [string, string, string];
    const flip = (text: string, index: number) => {
      const bytes = Buffer.from(text, 'base64url');
      bytes[index < 0 ? bytes.length + index : index]! ^= 0x01;
      return bytes.toString('base64url');
    };

    it.each([
      ['the IV', `v1.${flip(ivText, 0)}.${bodyText}`],
      ['the last IV byte', `v1.${flip(ivText, -1)}.${bodyText}`],
      ['the ciphertext', `v1.${ivText}.${flip(bodyText, 0)}`],
      ['the tag', `v1.${ivText}.${flip(bodyText, -1)}`],
    ])('in %s', (_, tampered) => {
      expect(tampered).not.toBe(sealed);
      expectDecryptFailure(() => decryptField(keyA, tampered, ctx), 'authentication');
    });

    it('by truncating or rewriting the envelope', () => {
      const body = Buffer.from(bodyText, 'base64url');
      expectDecryptFailure(
        () =>
          decryptField(keyA, `v1.${ivText}.${body.subarray(0, body.length - 1).toString('base64url')}`, ctx),
        'authentication',
      );
      expectDecryptFailure(
        () => decryptField(keyA, `v1.${ivText}.${body.subarray(0, 8).toString('base64url')}`, ctx),
        'malformed',
      );
      expectDecryptFailure(() => decryptField(keyA, `v1.${ivText}`, ctx), 'malformed');
      expectDecryptFailure(() => decryptField(keyA, `${sealed}.extra`, ctx), 'malformed');
      expectDecryptFailure(() => decryptField(keyA, `v1.${ivText}.${bodyText}=`, ctx), 'malformed');
      expectDecryptFailure(() => decryptField(keyA, `v1.${ivText.slice(1)}.${bodyText}`, ctx), 'malformed');
      expectDecryptFailure(() => decryptField(keyA, `v2.${ivText}.${bodyText}`, ctx), 'unsupported-version');
      expectDecryptFailure(() => decryptField(keyA, CANARY, ctx), 'malformed');
    });
  });

  describe('binds the ciphertext to its place', () => {
    const sealed = encryptField(keyA, CANARY, ctx);

    it('refuses it in another record', () => {
      expectDecryptFailure(() => decryptField(keyA, sealed, { ...ctx, recordId: 'msg-2' }), 'authentication');
    });

    it('refuses it in another field of the same record', () => {
      expectDecryptFailure(() => decryptField(keyA, sealed, { ...ctx, field: 'to' }), 'authentication');
    });

    it('refuses it for another controller, even one holding the same key bytes', () => {
      const sameBytesForB = DataKey.fromBytes(B, keyBytesA);
      expectDecryptFailure(
        () => decryptField(sameBytesForB, sealed, { ...ctx, controllerId: B }),
        'authentication',
      );
      const ownKeyOfB = DataKey.fromBytes(B, randomBytes(32));
      expectDecryptFailure(
        () => decryptField(ownKeyOfB, sealed, { ...ctx, controllerId: B }),
        'authentication',
      );
    });

    it('encodes the context unambiguously (record "ab" + field "c" differs from "a" + "bc")', () => {
      const shifted = encryptField(keyA, CANARY, { controllerId: A, recordId: 'ab', field: 'c' });
      expectDecryptFailure(
        () => decryptField(keyA, shifted, { controllerId: A, recordId: 'a', field: 'bc' }),
        'authentication',
      );
    });

    it('refuses it under another key of the same controller', () => {
      expectDecryptFailure(
        () => decryptField(DataKey.fromBytes(A, randomBytes(32)), sealed, ctx),
        'authentication',
      );
    });
  });

  it('keeps plaintext and key bytes out of errors, including their causes', () => {
    const sealed = encryptField(keyA, CANARY, ctx);
    const error = expectDecryptFailure(
      () => decryptField(keyA, sealed, { ...ctx, recordId: 'msg-9' }),
      'authentication',
    );
    expect(error.cause).toBeInstanceOf(Error);
    const rendered = [
      String(error),
      error.message,
      error.stack ?? '',
      inspect(error, { depth: 10 }),
      JSON.stringify(error),
    ];
    for (const text of rendered) {
      expect(text).not.toContain('CANARY');
      expect(text).not.toContain('4915112345678');
      expect(text).not.toContain(keyBytesA.toString('hex'));
      expect(text).not.toContain(keyBytesA.toString('base64'));
      expect(text).not.toContain(keyBytesA.toString('base64url'));
    }
    expect(error.message).toContain('msg-9');
    expect(error.message).toContain('body');
  });

  it('keeps key bytes out of inspect and JSON output of the key itself', () => {
    const first = keyBytesA.subarray(0, 4);
    const spacedHex = [...first].map((byte) => byte.toString(16).padStart(2, '0')).join(' '); // Buffer inspect
    const decimals = first.join(', '); // Uint8Array inspect / JSON
    for (const text of [inspect(keyA, { depth: 10, showHidden: true }), JSON.stringify(keyA), String(keyA)]) {
      for (const leak of [keyBytesA.toString('hex'), keyBytesA.toString('base64'), spacedHex, decimals]) {
        expect(text).not.toContain(leak);
      }
    }
  });

  it('refuses a key of another controller when encrypting, instead of writing unreadable data', () => {
    const keyB = DataKey.fromBytes(B, randomBytes(32));
    expect(() => encryptField(keyB, CANARY, ctx)).toThrow(KeyMismatchError);
  });

  it('refuses an empty record id or field name', () => {
    expect(() => encryptField(keyA, CANARY, { ...ctx, recordId: '' })).toThrow(InvalidFieldContextError);
    expect(() => encryptField(keyA, CANARY, { ...ctx, field: '' })).toThrow(InvalidFieldContextError);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => DataKey.fromBytes(A, randomBytes(16))).toThrow(InvalidKeyMaterialError);
  });

  it('never repeats an IV, also across refills of the IV pool', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 1_000; i++) ivs.add(encryptField(keyA, 'x', ctx).split('.')[1]!);
    expect(ivs.size).toBe(1_000);
  });

  it('fails clearly once the key is destroyed', () => {
    const key = DataKey.fromBytes(A, randomBytes(32));
    const sealed = encryptField(key, CANARY, ctx);
    key.destroy();
    expect(key.destroyed).toBe(true);
    expect(() => decryptField(key, sealed, ctx)).toThrow(ControllerKeysDestroyedError);
    expect(() => encryptField(key, CANARY, ctx)).toThrow(ControllerKeysDestroyedError);
  });
});

function expectDecryptFailure(
  fn: () => unknown,
  reason: DecryptionFailedError['reason'],
): DecryptionFailedError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DecryptionFailedError);
    const failure = error as DecryptionFailedError;
    expect(failure.code).toBe('PRIVACY_DECRYPT_FAILED');
    expect(failure.reason).toBe(reason);
    return failure;
  }
  throw new Error('expected decryption to fail');
}
