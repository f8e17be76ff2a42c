import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateMasterKey,
  InvalidKeyMaterialError,
  KeyUnwrapFailedError,
  LocalKms,
  MalformedWrappedKeyError,
  toControllerId,
  toWrappedKey,
  type WrappedKey,
} from '../src/index.ts';

const A = toControllerId('ctl-a');
const B = toControllerId('ctl-b');

describe('generateMasterKey', () => {
  it('returns base64 of 32 random bytes', () => {
    const key = generateMasterKey();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(Buffer.from(key, 'base64').toString('base64')).toBe(key);
    expect(generateMasterKey()).not.toBe(key);
  });
});

describe('LocalKms', () => {
  it('rejects master keys that are not 32 bytes of base64, without echoing them', () => {
    const cases: [string, number | undefined][] = [
      [randomBytes(31).toString('base64'), 31],
      [randomBytes(33).toString('base64'), 33],
      ['', 0],
      ['not base64 at all!', undefined],
      [
        randomBytes(32)
          .toString('base64url')
          .replace(/[A-Za-z0-9]$/, '-'),
        undefined,
      ],
    ];
    for (const [text, byteLength] of cases) {
      const error = catchError(() => new LocalKms(text));
      expect(error, text).toBeInstanceOf(InvalidKeyMaterialError);
      const invalid = error as InvalidKeyMaterialError;
      expect(invalid.code).toBe('PRIVACY_INVALID_KEY_MATERIAL');
      expect(invalid.keyKind).toBe('master');
      expect(invalid.byteLength).toBe(byteLength);
      expect(invalid.message).toMatch(/32 bytes/);
      if (text.length > 0) expect(invalid.message).not.toContain(text);
    }
  });

  it('accepts the key with surrounding whitespace, as read from an env file', async () => {
    const master = generateMasterKey();
    const kms = new LocalKms(master);
    const { plaintext, wrapped } = await kms.generateDataKey(A);
    expect(await new LocalKms(`${master}\n`).unwrap(A, wrapped)).toEqual(plaintext);
  });

  it('round-trips a data key, also through a second instance with the same master key (a restart)', async () => {
    const master = generateMasterKey();
    const kms = new LocalKms(master);
    const { plaintext, wrapped } = await kms.generateDataKey(A);
    expect(plaintext).toHaveLength(32);
    expect(wrapped).toMatch(/^wk1\.local:[0-9a-f]{16}\.[A-Za-z0-9_-]+$/);
    expect(wrapped).not.toContain(plaintext.toString('base64url'));
    expect(wrapped).not.toContain(plaintext.toString('hex'));
    expect(await kms.unwrap(A, wrapped)).toEqual(plaintext);
    expect(await new LocalKms(master).unwrap(A, wrapped)).toEqual(plaintext);
    expect(new LocalKms(master).keyId).toBe(kms.keyId);
  });

  it('generates a different key every time', async () => {
    const kms = new LocalKms(generateMasterKey());
    const first = await kms.generateDataKey(A);
    const second = await kms.generateDataKey(A);
    expect(first.plaintext.equals(second.plaintext)).toBe(false);
    expect(first.wrapped).not.toBe(second.wrapped);
  });

  it('refuses to unwrap a key moved to another controller', async () => {
    const kms = new LocalKms(generateMasterKey());
    const { wrapped } = await kms.generateDataKey(A);
    const error = await kms.unwrap(B, wrapped).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KeyUnwrapFailedError);
    expect((error as KeyUnwrapFailedError).reason).toBe('authentication');
    expect((error as KeyUnwrapFailedError).controllerId).toBe(B);
    expect((error as KeyUnwrapFailedError).code).toBe('PRIVACY_KEY_UNWRAP_FAILED');
  });

  it('refuses to unwrap with another master key, and names the key id it expected', async () => {
    const kms = new LocalKms(generateMasterKey());
    const other = new LocalKms(generateMasterKey());
    const { wrapped } = await kms.generateDataKey(A);
    expect(other.keyId).not.toBe(kms.keyId);
    const error = await other.unwrap(A, wrapped).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyUnwrapFailedError);
    expect((error as KeyUnwrapFailedError).reason).toBe('unknown-key');
    expect((error as KeyUnwrapFailedError).keyId).toBe(kms.keyId);
  });

  it('refuses another master key even when the envelope claims its key id (the cipher, not the label, decides)', async () => {
    const kms = new LocalKms(generateMasterKey());
    const other = new LocalKms(generateMasterKey());
    const { wrapped } = await kms.generateDataKey(A);
    const relabelled = wrapped.replace(kms.keyId, other.keyId) as WrappedKey;
    const error = await other.unwrap(A, relabelled).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyUnwrapFailedError);
    expect((error as KeyUnwrapFailedError).reason).toBe('authentication');
  });

  it('detects a tampered wrapped key', async () => {
    const kms = new LocalKms(generateMasterKey());
    const { wrapped } = await kms.generateDataKey(A);
    const prefix = wrapped.slice(0, wrapped.lastIndexOf('.') + 1);
    const payload = Buffer.from(wrapped.slice(prefix.length), 'base64url');
    for (const index of [0, 12, payload.length - 1]) {
      const copy = Buffer.from(payload);
      copy[index]! ^= 0x80;
      const error = await kms
        .unwrap(A, `${prefix}${copy.toString('base64url')}` as WrappedKey)
        .catch((e: unknown) => e);
      expect(error, `byte ${index}`).toBeInstanceOf(KeyUnwrapFailedError);
    }
    await expect(
      kms.unwrap(A, `${prefix}${payload.subarray(1).toString('base64url')}` as WrappedKey),
    ).rejects.toThrow(MalformedWrappedKeyError);
  });
});

describe('LocalKms.signingKey', () => {
  const spki = (raw: Uint8Array) =>
    createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]),
      format: 'der',
      type: 'spki',
    });

  it('is the same Ed25519 key for the same master key and purpose, and its signatures verify', async () => {
    const master = generateMasterKey();
    const one = await new LocalKms(master).signingKey('audit-checkpoints/eu');
    const again = await new LocalKms(master).signingKey('audit-checkpoints/eu');
    expect(one.publicKey).toHaveLength(32);
    expect(Buffer.from(again.publicKey)).toEqual(Buffer.from(one.publicKey));
    const message = Buffer.from('eu\n1\nroot\n');
    const signature = await one.sign(message);
    expect(verify(null, message, spki(one.publicKey), signature)).toBe(true);
    expect(verify(null, Buffer.from('eu\n2\nroot\n'), spki(one.publicKey), signature)).toBe(false);
  });

  it('differs by purpose and by master key, and refuses an empty purpose', async () => {
    const kms = new LocalKms(generateMasterKey());
    const eu = Buffer.from((await kms.signingKey('audit-checkpoints/eu')).publicKey);
    expect(Buffer.from((await kms.signingKey('audit-checkpoints/us')).publicKey)).not.toEqual(eu);
    const other = new LocalKms(generateMasterKey());
    expect(Buffer.from((await other.signingKey('audit-checkpoints/eu')).publicKey)).not.toEqual(eu);
    await expect(kms.signingKey('')).rejects.toThrow(RangeError);
  });
});

describe('toWrappedKey', () => {
  it('accepts stored envelopes, including cloud-style key ids, and refuses anything else', async () => {
    const { wrapped } = await new LocalKms(generateMasterKey()).generateDataKey(A);
    expect(toWrappedKey(String(wrapped))).toBe(wrapped);
    expect(toWrappedKey('wk1.arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab.AAAA')).toBeTruthy();
    for (const bad of [
      '',
      'wk1..AAAA',
      'wk2.local:00.AAAA',
      'wk1.local:00.AA+A',
      'wk1.local:00.',
      wrapped.slice(3),
    ]) {
      expect(() => toWrappedKey(bad), bad).toThrow(MalformedWrappedKeyError);
    }
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
