import type { ControllerId } from './types.ts';

/** Common base so callers can catch every privacy failure and branch on its stable `code`, never on text. */
export abstract class PrivacyError extends Error {
  abstract readonly code: string;
}

/** A controller id failed validation; the value is withheld because raw input may hold anything. */
export class InvalidControllerIdError extends PrivacyError {
  override readonly name = 'InvalidControllerIdError';
  override readonly code = 'PRIVACY_INVALID_CONTROLLER_ID';
  constructor() {
    super('controller id must be 1-128 characters of [A-Za-z0-9._:-], starting with a letter or digit');
  }
}

/** A phone number is not normalised E.164; the number itself is personal data, so it never enters the message. */
export class InvalidE164Error extends PrivacyError {
  override readonly name = 'InvalidE164Error';
  override readonly code = 'PRIVACY_INVALID_E164';
  constructor() {
    super(
      'phone number is not normalised E.164 ("+" then 8-15 digits, first digit non-zero); value withheld',
    );
  }
}

/** Key bytes of the wrong size or encoding; only the size is reported, never the bytes. */
export class InvalidKeyMaterialError extends PrivacyError {
  override readonly name = 'InvalidKeyMaterialError';
  override readonly code = 'PRIVACY_INVALID_KEY_MATERIAL';
  readonly keyKind: 'master' | 'data' | 'pseudonym';
  /** Decoded length, or undefined when the text was not valid base64. */
  readonly byteLength: number | undefined;
  constructor(context: { keyKind: 'master' | 'data' | 'pseudonym'; byteLength: number | undefined }) {
    const got =
      context.byteLength === undefined ? 'text that is not valid base64' : `${context.byteLength} bytes`;
    const hint =
      context.keyKind === 'master' ? ' encoded as base64 (generateMasterKey() prints a fresh one)' : '';
    super(`${context.keyKind} key must be 32 bytes${hint}; got ${got}`);
    this.keyKind = context.keyKind;
    this.byteLength = context.byteLength;
  }
}

/** A wrapped key string does not follow the `wk1.<keyId>.<payload>` envelope. */
export class MalformedWrappedKeyError extends PrivacyError {
  override readonly name = 'MalformedWrappedKeyError';
  override readonly code = 'PRIVACY_MALFORMED_WRAPPED_KEY';
  constructor() {
    super('wrapped key is not a valid wk1 envelope');
  }
}

/** The KMS refused to unwrap: wrong master key, or the wrapped key belongs to another controller or was altered. */
export class KeyUnwrapFailedError extends PrivacyError {
  override readonly name = 'KeyUnwrapFailedError';
  override readonly code = 'PRIVACY_KEY_UNWRAP_FAILED';
  readonly controllerId: ControllerId;
  readonly keyId: string;
  readonly reason: 'unknown-key' | 'authentication';
  constructor(
    context: { controllerId: ControllerId; keyId: string; reason: 'unknown-key' | 'authentication' },
    options?: ErrorOptions,
  ) {
    const why =
      context.reason === 'unknown-key'
        ? `it was wrapped under master key ${context.keyId}, which this KMS does not hold`
        : 'authentication failed (wrong master key, another controller, or altered)';
    super(`cannot unwrap key for controller ${context.controllerId}: ${why}`, options);
    this.controllerId = context.controllerId;
    this.keyId = context.keyId;
    this.reason = context.reason;
  }
}

/** A field ciphertext could not be decrypted; says where, never what. */
export class DecryptionFailedError extends PrivacyError {
  override readonly name = 'DecryptionFailedError';
  override readonly code = 'PRIVACY_DECRYPT_FAILED';
  readonly controllerId: ControllerId;
  readonly recordId: string;
  readonly field: string;
  readonly reason: 'malformed' | 'unsupported-version' | 'authentication';
  constructor(
    context: {
      controllerId: ControllerId;
      recordId: string;
      field: string;
      reason: 'malformed' | 'unsupported-version' | 'authentication';
    },
    options?: ErrorOptions,
  ) {
    super(
      `cannot decrypt field ${JSON.stringify(context.field)} of record ${JSON.stringify(context.recordId)} ` +
        `for controller ${context.controllerId}: ${context.reason}`,
      options,
    );
    this.controllerId = context.controllerId;
    this.recordId = context.recordId;
    this.field = context.field;
    this.reason = context.reason;
  }
}

/** Empty record ids or field names would let one ciphertext stand in for many places. */
export class InvalidFieldContextError extends PrivacyError {
  override readonly name = 'InvalidFieldContextError';
  override readonly code = 'PRIVACY_INVALID_FIELD_CONTEXT';
  readonly part: 'recordId' | 'field';
  constructor(context: { part: 'recordId' | 'field' }) {
    super(`field encryption context needs a non-empty ${context.part}`);
    this.part = context.part;
  }
}

/** A key was used for another controller's record, which would write data nobody can ever decrypt. */
export class KeyMismatchError extends PrivacyError {
  override readonly name = 'KeyMismatchError';
  override readonly code = 'PRIVACY_KEY_MISMATCH';
  readonly keyControllerId: ControllerId;
  readonly controllerId: ControllerId;
  constructor(context: { keyControllerId: ControllerId; controllerId: ControllerId }) {
    super(`key of controller ${context.keyControllerId} used for controller ${context.controllerId}`);
    this.keyControllerId = context.keyControllerId;
    this.controllerId = context.controllerId;
  }
}

/** The controller never had keys created (or its store row is missing). */
export class ControllerKeysNotFoundError extends PrivacyError {
  override readonly name = 'ControllerKeysNotFoundError';
  override readonly code = 'PRIVACY_CONTROLLER_KEYS_NOT_FOUND';
  readonly controllerId: ControllerId;
  constructor(context: { controllerId: ControllerId }) {
    super(`no keys exist for controller ${context.controllerId}`);
    this.controllerId = context.controllerId;
  }
}

/** Keys were crypto-shredded: whatever was encrypted under them is permanently unreadable, by design. */
export class ControllerKeysDestroyedError extends PrivacyError {
  override readonly name = 'ControllerKeysDestroyedError';
  override readonly code = 'PRIVACY_CONTROLLER_KEYS_DESTROYED';
  readonly controllerId: ControllerId;
  readonly destroyedAt: Date | undefined;
  constructor(context: { controllerId: ControllerId; destroyedAt: Date | undefined }) {
    const when = context.destroyedAt === undefined ? '' : ` at ${context.destroyedAt.toISOString()}`;
    super(
      `keys of controller ${context.controllerId} were destroyed${when} (crypto-shredded); ` +
        'its data can no longer be encrypted or decrypted',
    );
    this.controllerId = context.controllerId;
    this.destroyedAt = context.destroyedAt;
  }
}

/** Creating keys twice would orphan everything encrypted under the first ones. */
export class ControllerKeysExistError extends PrivacyError {
  override readonly name = 'ControllerKeysExistError';
  override readonly code = 'PRIVACY_CONTROLLER_KEYS_EXIST';
  readonly controllerId: ControllerId;
  constructor(context: { controllerId: ControllerId }) {
    super(`keys already exist for controller ${context.controllerId}`);
    this.controllerId = context.controllerId;
  }
}
