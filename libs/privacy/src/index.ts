export {
  ControllerKeysDestroyedError,
  ControllerKeysExistError,
  ControllerKeysNotFoundError,
  DecryptionFailedError,
  InvalidControllerIdError,
  InvalidE164Error,
  InvalidFieldContextError,
  InvalidKeyMaterialError,
  KeyMismatchError,
  KeyUnwrapFailedError,
  MalformedWrappedKeyError,
  PrivacyError,
} from './errors.ts';
export { decryptField, type EncryptedField, encryptField, type FieldContext } from './field.ts';
export {
  type ControllerKeyStore,
  type ControllerKeys,
  InMemoryControllerKeyStore,
  Keyring,
  type KeyringOptions,
  type StoredControllerKeys,
  type WrappedControllerKeys,
} from './keyring.ts';
export { DataKey, PseudonymKey } from './keys.ts';
export { generateMasterKey, type Kms, LocalKms, toWrappedKey, type WrappedKey } from './kms.ts';
export { type Pseudonym, pseudonymise } from './pseudonym.ts';
export {
  type ControllerId,
  type E164,
  isControllerId,
  isE164,
  isRegion,
  REGIONS,
  type Region,
  toControllerId,
  toE164,
} from './types.ts';
