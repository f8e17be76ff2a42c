import { ControllerKeysDestroyedError, InvalidKeyMaterialError } from './errors.ts';
import type { ControllerId } from './types.ts';

const KEY_BYTES = 32;

interface KeyState {
  bytes: Buffer | undefined;
  destroyedAt: Date | undefined;
}

// Key bytes live outside the objects so console.log, util.inspect and JSON.stringify cannot reveal them.
const states = new WeakMap<SecretKey, KeyState>();

/** Shared lifecycle of per-controller secrets: bound to one controller, zeroed on destruction. */
abstract class SecretKey {
  readonly controllerId: ControllerId;
  abstract readonly purpose: 'data' | 'pseudonym';

  protected constructor(controllerId: ControllerId, bytes: Uint8Array, kind: 'data' | 'pseudonym') {
    if (bytes.length !== KEY_BYTES)
      throw new InvalidKeyMaterialError({ keyKind: kind, byteLength: bytes.length });
    this.controllerId = controllerId;
    // Own copy outside the shared Buffer pool, so zeroing it later wipes the only copy we control.
    const copy = Buffer.alloc(KEY_BYTES);
    copy.set(bytes);
    states.set(this, { bytes: copy, destroyedAt: undefined });
  }

  /** Whether destroy() ran; a destroyed key refuses every operation. */
  get destroyed(): boolean {
    return states.get(this)?.bytes === undefined;
  }

  /** Zeroes the key bytes (best effort in a garbage-collected runtime) so later use fails loudly. */
  destroy(at: Date = new Date()): void {
    const state = states.get(this);
    if (state?.bytes === undefined) return;
    state.bytes.fill(0);
    state.bytes = undefined;
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

/** Package-internal access to key bytes; a destroyed key surfaces as crypto-shredding, not a crypto error. */
export function keyBytes(key: DataKey | PseudonymKey, purpose: 'data' | 'pseudonym'): Buffer {
  const state = states.get(key);
  if (state === undefined || key.purpose !== purpose) {
    throw new TypeError(`expected a ${purpose === 'data' ? 'DataKey' : 'PseudonymKey'}`);
  }
  if (state.bytes === undefined) {
    throw new ControllerKeysDestroyedError({
      controllerId: key.controllerId,
      destroyedAt: state.destroyedAt,
    });
  }
  return state.bytes;
}
