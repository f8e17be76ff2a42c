export { CanonicalJsonError, canonicalJson, instructionHash } from './canonical.ts';
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
  INSTRUCTION_PROBLEM_CODES,
  type Instruction,
  type InstructionContext,
  type InstructionNotice,
  type InstructionProblem,
  type InstructionProblemCode,
  type InstructionValidation,
  InvalidInstructionError,
  instructionSchema,
  normaliseInstruction,
  parseInstruction,
  validateInstruction,
} from './instructions.ts';
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
export {
  generateMasterKey,
  type Kms,
  LocalKms,
  type SigningKey,
  toWrappedKey,
  type WrappedKey,
} from './kms.ts';
export { type Pseudonym, pseudonymise } from './pseudonym.ts';
export { isPurpose, PURPOSE_VOCABULARY, PURPOSES, type Purpose, type PurposeDefinition } from './purposes.ts';
export {
  defineSubprocessorRegistry,
  findSubprocessor,
  isTransferMechanism,
  NOTICE_PERIOD_DAYS,
  type PublicSubprocessor,
  processesOutsideRegion,
  publicSubprocessorList,
  REGION_COUNTRIES,
  SUBPROCESSORS,
  type Subprocessor,
  type SubprocessorLocation,
  type SubprocessorRegistry,
  SubprocessorRegistryError,
  type SubprocessorStatus,
  subprocessorStatus,
  TRANSFER_MECHANISMS,
  type TransferMechanism,
} from './subprocessors.ts';
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
