import { describe, expect, it } from 'vitest';
import {
  type ControllerId,
  ControllerKeysDestroyedError,
  ControllerKeysExistError,
  ControllerKeysNotFoundError,
  DecryptionFailedError,
  decryptField,
  encryptField,
  generateMasterKey,
  InMemoryControllerKeyStore,
  Keyring,
  KeyUnwrapFailedError,
  type Kms,
  LocalKms,
  pseudonymise,
  toControllerId,
  toE164,
  type WrappedKey,
} from '../src/index.ts';

const A = toControllerId('ctl-a');
const B = toControllerId('ctl-b');
const NUMBER = toE164('+4915112345678');

/** Counts unwraps so caching is observable. */
class CountingKms implements Kms {
  unwraps = 0;
  readonly #inner: Kms;
  constructor(inner: Kms) {
    this.#inner = inner;
  }
  generateDataKey(controllerId: ControllerId) {
    return this.#inner.generateDataKey(controllerId);
  }
  unwrap(controllerId: ControllerId, wrapped: WrappedKey) {
    this.unwraps += 1;
    return this.#inner.unwrap(controllerId, wrapped);
  }
  signingKey(purpose: string) {
    return this.#inner.signingKey(purpose);
  }
}

function setup() {
  const kms = new CountingKms(new LocalKms(generateMasterKey()));
  const store = new InMemoryControllerKeyStore();
  const clock = { now: new Date('2025-01-01T00:00:00Z') };
  const keyring = (cacheTtlMs = 60_000) => new Keyring({ kms, store, cacheTtlMs, now: () => clock.now });
  const advance = (ms: number) => {
    clock.now = new Date(clock.now.getTime() + ms);
  };
  return { kms, store, clock, keyring, advance };
}

const ctx = { controllerId: A, recordId: 'msg-1', field: 'to' };

describe('Keyring', () => {
  it('creates and stores wrapped keys that another process can load and use', async () => {
    const { store, keyring } = setup();
    const control = keyring();
    const wrapped = await control.create(A);
    expect(await store.get(A)).toEqual({ status: 'active', keys: wrapped });
    expect(wrapped.dataKey).not.toBe(wrapped.pseudonymKey);

    const mine = await control.get(A);
    const sealed = encryptField(mine.dataKey, '+4915112345678', ctx);

    const worker = keyring(); // separate cache, as in another service
    const theirs = await worker.get(A);
    expect(theirs).not.toBe(mine);
    expect(decryptField(theirs.dataKey, sealed, ctx)).toBe('+4915112345678');
    expect(pseudonymise(theirs.pseudonymKey, NUMBER)).toBe(pseudonymise(mine.pseudonymKey, NUMBER));
  });

  it('gives each controller its own keys', async () => {
    const { keyring } = setup();
    const ring = keyring();
    await ring.create(A);
    await ring.create(B);
    const a = await ring.get(A);
    const b = await ring.get(B);
    expect(pseudonymise(a.pseudonymKey, NUMBER)).not.toBe(pseudonymise(b.pseudonymKey, NUMBER));
  });

  it('unwraps once per cache period, also under concurrent loads', async () => {
    const { kms, keyring, advance } = setup();
    await keyring().create(A);
    const ring = keyring(60_000);
    const [first, second] = await Promise.all([ring.get(A), ring.get(A)]);
    expect(second).toBe(first);
    expect(kms.unwraps).toBe(2); // data key + pseudonym key
    advance(59_000);
    expect(await ring.get(A)).toBe(first);
    expect(kms.unwraps).toBe(2);
    advance(2_000);
    expect(await ring.get(A)).not.toBe(first);
    expect(kms.unwraps).toBe(4);
  });

  it('keeps at most maxCachedControllers controllers cached, dropping the least recently loaded', async () => {
    const { kms, store } = setup();
    const C = toControllerId('ctl-c');
    const ring = new Keyring({ kms, store, maxCachedControllers: 2 });
    for (const id of [A, B, C]) await ring.create(id);
    kms.unwraps = 0;
    const a = await ring.get(A); // dropped when C was created: unwrapped again
    expect(kms.unwraps).toBe(2);
    await ring.get(C); // still cached
    expect(kms.unwraps).toBe(2);
    await ring.get(B); // dropped when A came back
    expect(kms.unwraps).toBe(4);
    expect(a.dataKey.destroyed).toBe(false); // dropped, not destroyed: a batch may still hold it
  });

  it('refuses to create keys twice', async () => {
    const { keyring } = setup();
    await keyring().create(A);
    await expect(keyring().create(A)).rejects.toThrow(ControllerKeysExistError);
  });

  it('reports unknown controllers and does not cache the failure', async () => {
    const { keyring } = setup();
    const ring = keyring();
    await expect(ring.get(A)).rejects.toThrow(ControllerKeysNotFoundError);
    await keyring().create(A);
    await expect(ring.get(A)).resolves.toMatchObject({ controllerId: A });
  });

  it('crypto-shreds: after destroy nothing decrypts, held keys are zeroed, and the keys cannot come back', async () => {
    const { store, clock, keyring } = setup();
    const ring = keyring();
    await ring.create(A);
    const held = await ring.get(A);
    const sealed = encryptField(held.dataKey, 'CANARY body', ctx);

    await ring.destroy(A);

    expect(await store.get(A)).toEqual({ status: 'destroyed', destroyedAt: clock.now });
    expect(held.dataKey.destroyed).toBe(true);
    expect(held.pseudonymKey.destroyed).toBe(true);
    expect(() => decryptField(held.dataKey, sealed, ctx)).toThrow(ControllerKeysDestroyedError);
    expect(() => pseudonymise(held.pseudonymKey, NUMBER)).toThrow(ControllerKeysDestroyedError);

    for (const reader of [ring, keyring()]) {
      const error = await reader.get(A).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ControllerKeysDestroyedError);
      expect((error as ControllerKeysDestroyedError).code).toBe('PRIVACY_CONTROLLER_KEYS_DESTROYED');
      expect((error as ControllerKeysDestroyedError).destroyedAt).toEqual(clock.now);
      expect((error as Error).message).toMatch(/crypto-shredded/);
    }
    await expect(ring.create(A)).rejects.toThrow(ControllerKeysDestroyedError);
    await ring.destroy(A); // idempotent
  });

  it('limits how long another process keeps shredded keys: until its TTL, or at once via forget()', async () => {
    const { keyring, advance } = setup();
    const control = keyring();
    await control.create(A);
    const workerA = keyring(60_000);
    const workerB = keyring(60_000);
    const keysA = await workerA.get(A);
    const keysB = await workerB.get(A);

    await control.destroy(A);

    // Used before the shredding, so each key has its prepared key object: forget() must drop it too.
    const sealed = encryptField(keysB.dataKey, 'CANARY body', ctx);
    pseudonymise(keysB.pseudonymKey, NUMBER);
    await workerB.forget(A);
    expect(keysB.dataKey.destroyed).toBe(true);
    expect(() => encryptField(keysB.dataKey, 'CANARY body', ctx)).toThrow(ControllerKeysDestroyedError);
    expect(() => decryptField(keysB.dataKey, sealed, ctx)).toThrow(ControllerKeysDestroyedError);
    expect(() => pseudonymise(keysB.pseudonymKey, NUMBER)).toThrow(ControllerKeysDestroyedError);
    await expect(workerB.get(A)).rejects.toThrow(ControllerKeysDestroyedError);

    expect(await workerA.get(A)).toBe(keysA); // still cached: the documented window
    advance(60_001);
    await expect(workerA.get(A)).rejects.toThrow(ControllerKeysDestroyedError);
  });

  it('refuses wrapped keys moved to another controller', async () => {
    const { store, keyring } = setup();
    const ring = keyring();
    const wrappedA = await ring.create(A);
    await store.insert(B, wrappedA);
    const error = await ring.get(B).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyUnwrapFailedError);
    expect((error as KeyUnwrapFailedError).reason).toBe('authentication');
  });

  it('does not let ciphertext of one controller decrypt under another controller’s keys', async () => {
    const { keyring } = setup();
    const ring = keyring();
    await ring.create(A);
    await ring.create(B);
    const sealed = encryptField((await ring.get(A)).dataKey, 'secret', ctx);
    const keysB = await ring.get(B);
    expect(() => decryptField(keysB.dataKey, sealed, { ...ctx, controllerId: B })).toThrow(
      DecryptionFailedError,
    );
  });

  it('refuses keys under another master key', async () => {
    const { store, keyring } = setup();
    await keyring().create(A);
    const otherKms = new LocalKms(generateMasterKey());
    const error = await new Keyring({ kms: otherKms, store }).get(A).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyUnwrapFailedError);
  });
});
