import { createSecretKey, type KeyObject } from 'node:crypto';
import { ControllerKeysDestroyedError, InvalidKeyMaterialError } from './errors.ts';
import type { ControllerId } from './types.ts';

const KEY_BYTES = 32;

interface KeyState {
  /** The key as a node KeyObject, built once: rebuilding it from raw bytes per call cost ~14 µs. */
  object: KeyObject | undefined;
  destroyedAt: Date | undefined;
}

// Key material lives outside the objects so console.log, util.inspect and JSON.stringify cannot reveal it.
const states = new WeakMap<SecretKey, KeyState>();

/**
 * Shared lifecycle of per-controller secrets: bound to one controller, dropped on destruction.
 *
 * The material is held in exactly one place, a secret KeyObject (OpenSSL memory, outside the JS heap),
 * which is what every operation uses; there is no other cache of it, keyed by controller or otherwise, so
 * a destroyed key cannot be found again anywhere and a rotated key never shares an entry with its
 * predecessor. Node clears a KeyObject's bytes (OPENSSL_clear_free) when it is collected.
 */
abstract class SecretKey {
  readonly controllerId: ControllerId;
  abstract readonly purpose: 'data' | 'pseudonym';

  protected constructor(controllerId: ControllerId, bytes: Uint8Array, kind: 'data' | 'pseudonym') {
    if (bytes.length !== KEY_BYTES)
      throw new InvalidKeyMaterialError({ keyKind: kind, byteLength: bytes.length });
    this.controllerId = controllerId;
    // createSecretKey copies the bytes; the caller wipes its own buffer (the keyring does).
    states.set(this, { object: createSecretKey(bytes), destroyedAt: undefined });
  }

  /** Whether destroy() ran; a destroyed key refuses every operation. */
  get destroyed(): boolean {
    return states.get(this)?.object === undefined;
  }

  /**
   * Drops the key material so later use fails loudly. Best effort in a garbage-collected runtime: the
   * native copy is cleared once nothing references it (a cipher still running keeps it until it ends).
   */
  destroy(at: Date = new Date()): void {
    const state = states.get(this);
    if (state?.object === undefined) return;
    state.object = undefined;
    state.destroyedAt = at;
  }
}

/** AES-256 key that encrypts one controller's personal fields. */
export class DataKey extends SecretKey {
  override readonly purpose = 'data';

  private constructor(controllerId: ControllerId, bytes: Uint8Array) {
    super(controllerId, bytes, 'data');
  }

  /** Wraps 32 raw bytes (copied); normally only the keyring calls this after a KMS unwrap. */
  static fromBytes(controllerId: ControllerId, bytes: Uint8Array): DataKey {
    return new DataKey(controllerId, bytes);
  }
}

/** HMAC-SHA256 key that turns one controller's phone numbers into pseudonyms. */
export class PseudonymKey extends SecretKey {
  override readonly purpose = 'pseudonym';

  private constructor(controllerId: ControllerId, bytes: Uint8Array) {
    super(controllerId, bytes, 'pseudonym');
  }

  /** Wraps 32 raw bytes (copied); normally only the keyring calls this after a KMS unwrap. */
  static fromBytes(controllerId: ControllerId, bytes: Uint8Array): PseudonymKey {
    return new PseudonymKey(controllerId, bytes);
  }
}

/** Package-internal access to the key material; a destroyed key surfaces as crypto-shredding, not a crypto error. */
export function keyObject(key: DataKey | PseudonymKey, purpose: 'data' | 'pseudonym'): KeyObject {
  const state = states.get(key);
  if (state === undefined || key.purpose !== purpose) {
    throw new TypeError(`expected a ${purpose === 'data' ? 'DataKey' : 'PseudonymKey'}`);
  }
  if (state.object === undefined) {
    throw new ControllerKeysDestroyedError({
      controllerId: key.controllerId,
      destroyedAt: state.destroyedAt,
    });
  }
  return state.object;
}
