import {
  ControllerKeysDestroyedError,
  ControllerKeysExistError,
  ControllerKeysNotFoundError,
} from './errors.ts';
import { DataKey, PseudonymKey } from './keys.ts';
import type { Kms, WrappedKey } from './kms.ts';
import type { ControllerId } from './types.ts';

/** A controller's keys as persisted: only ever in wrapped form. */
export interface WrappedControllerKeys {
  readonly dataKey: WrappedKey;
  readonly pseudonymKey: WrappedKey;
}

/** What a key store holds per controller; the tombstone keeps "shredded" distinguishable from "never existed". */
export type StoredControllerKeys =
  | { readonly status: 'active'; readonly keys: WrappedControllerKeys }
  | { readonly status: 'destroyed'; readonly destroyedAt: Date };

/** Persistence port for wrapped keys (a PostgreSQL table in services, a Map in tests). */
export interface ControllerKeyStore {
  /** Returns the stored state, or undefined if the controller never had keys. */
  get(controllerId: ControllerId): Promise<StoredControllerKeys | undefined>;
  /** Inserts keys only if nothing (keys or tombstone) exists yet; resolves false otherwise. */
  insert(controllerId: ControllerId, keys: WrappedControllerKeys): Promise<boolean>;
  /** Irrecoverably deletes the wrapped keys and leaves a tombstone; idempotent, keeps the first date. */
  destroy(controllerId: ControllerId, destroyedAt: Date): Promise<void>;
}

/** Unwrapped keys of one controller, ready for encryptField / pseudonymise. */
export interface ControllerKeys {
  readonly controllerId: ControllerId;
  readonly dataKey: DataKey;
  readonly pseudonymKey: PseudonymKey;
}

/** Dependencies and tuning of a Keyring. */
export interface KeyringOptions {
  readonly kms: Kms;
  readonly store: ControllerKeyStore;
  /** How long unwrapped keys stay cached; bounds how long another process can still use shredded keys. */
  readonly cacheTtlMs?: number;
  /**
   * Controllers whose keys stay cached (default 10,000); past it the least recently loaded are
   * dropped (not destroyed: a batch may still hold them) and unwrapped again when next needed.
   */
  readonly maxCachedControllers?: number;
  readonly now?: () => Date;
}

interface CacheEntry {
  readonly keys: Promise<ControllerKeys>;
  readonly expiresAt: number;
}

/** Creates, loads (unwrap + cache) and crypto-shreds per-controller keys. */
export class Keyring {
  readonly #kms: Kms;
  readonly #store: ControllerKeyStore;
  readonly #cacheTtlMs: number;
  readonly #maxCached: number;
  readonly #now: () => Date;
  readonly #cache = new Map<ControllerId, CacheEntry>();

  constructor(options: KeyringOptions) {
    this.#kms = options.kms;
    this.#store = options.store;
    this.#cacheTtlMs = options.cacheTtlMs ?? 5 * 60_000;
    this.#maxCached = Math.max(1, options.maxCachedControllers ?? 10_000);
    this.#now = options.now ?? (() => new Date());
  }

  /** Generates and stores a data key and a pseudonym key; returns the wrapped material that was stored. */
  async create(controllerId: ControllerId): Promise<WrappedControllerKeys> {
    const [data, pseudonym] = await Promise.all([
      this.#kms.generateDataKey(controllerId),
      this.#kms.generateDataKey(controllerId),
    ]);
    const wrapped: WrappedControllerKeys = { dataKey: data.wrapped, pseudonymKey: pseudonym.wrapped };
    const keys = toControllerKeys(controllerId, data.plaintext, pseudonym.plaintext);
    if (!(await this.#store.insert(controllerId, wrapped))) {
      destroyKeys(keys, this.#now());
      const existing = await this.#store.get(controllerId);
      if (existing?.status === 'destroyed') {
        throw new ControllerKeysDestroyedError({ controllerId, destroyedAt: existing.destroyedAt });
      }
      throw new ControllerKeysExistError({ controllerId });
    }
    this.#remember(controllerId, { keys: Promise.resolve(keys), expiresAt: this.#expiry() });
    return wrapped;
  }

  /** Returns the controller's unwrapped keys, unwrapping through the KMS at most once per cache period. */
  get(controllerId: ControllerId): Promise<ControllerKeys> {
    const cached = this.#cache.get(controllerId);
    if (cached !== undefined && cached.expiresAt > this.#now().getTime()) return cached.keys;
    const keys = this.#load(controllerId);
    const entry = { keys, expiresAt: this.#expiry() };
    this.#remember(controllerId, entry);
    // A failed load must not be served from the cache.
    keys.catch(() => {
      if (this.#cache.get(controllerId) === entry) this.#cache.delete(controllerId);
    });
    return keys;
  }

  /** Crypto-shreds a controller: deletes its wrapped keys for good and destroys the copies cached here. */
  async destroy(controllerId: ControllerId): Promise<void> {
    await this.#store.destroy(controllerId, this.#now());
    await this.forget(controllerId);
  }

  /** Drops and destroys cached keys; call it when another process reports the controller's keys destroyed. */
  async forget(controllerId: ControllerId): Promise<void> {
    const entry = this.#cache.get(controllerId);
    this.#cache.delete(controllerId);
    const keys = await entry?.keys.catch(() => undefined);
    if (keys !== undefined) destroyKeys(keys, this.#now());
  }

  async #load(controllerId: ControllerId): Promise<ControllerKeys> {
    const stored = await this.#store.get(controllerId);
    if (stored === undefined) throw new ControllerKeysNotFoundError({ controllerId });
    if (stored.status === 'destroyed') {
      throw new ControllerKeysDestroyedError({ controllerId, destroyedAt: stored.destroyedAt });
    }
    const [data, pseudonym] = await Promise.all([
      this.#kms.unwrap(controllerId, stored.keys.dataKey),
      this.#kms.unwrap(controllerId, stored.keys.pseudonymKey),
    ]);
    return toControllerKeys(controllerId, data, pseudonym);
  }

  /** Caches an entry as the most recent one, dropping the oldest past the bound. */
  #remember(controllerId: ControllerId, entry: CacheEntry): void {
    this.#cache.delete(controllerId); // re-inserted last: a Map iterates in insertion order
    this.#cache.set(controllerId, entry);
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= this.#maxCached) break;
      this.#cache.delete(oldest);
    }
  }

  #expiry(): number {
    return this.#now().getTime() + this.#cacheTtlMs;
  }
}

function toControllerKeys(controllerId: ControllerId, data: Buffer, pseudonym: Buffer): ControllerKeys {
  try {
    return {
      controllerId,
      dataKey: DataKey.fromBytes(controllerId, data),
      pseudonymKey: PseudonymKey.fromBytes(controllerId, pseudonym),
    };
  } finally {
    // The key objects hold their own copies; the KMS buffers are wiped so only one copy lingers.
    data.fill(0);
    pseudonym.fill(0);
  }
}

function destroyKeys(keys: ControllerKeys, at: Date): void {
  keys.dataKey.destroy(at);
  keys.pseudonymKey.destroy(at);
}

/** In-memory ControllerKeyStore for tests and local development. */
export class InMemoryControllerKeyStore implements ControllerKeyStore {
  readonly #rows = new Map<ControllerId, StoredControllerKeys>();

  /** Returns the stored state, or undefined if the controller never had keys. */
  async get(controllerId: ControllerId): Promise<StoredControllerKeys | undefined> {
    return this.#rows.get(controllerId);
  }

  /** Inserts keys only if nothing exists yet for the controller. */
  async insert(controllerId: ControllerId, keys: WrappedControllerKeys): Promise<boolean> {
    if (this.#rows.has(controllerId)) return false;
    this.#rows.set(controllerId, { status: 'active', keys });
    return true;
  }

  /** Replaces the wrapped keys with a tombstone, keeping the first destruction date. */
  async destroy(controllerId: ControllerId, destroyedAt: Date): Promise<void> {
    if (this.#rows.get(controllerId)?.status === 'destroyed') return;
    this.#rows.set(controllerId, { status: 'destroyed', destroyedAt });
  }
}
