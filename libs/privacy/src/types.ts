import { InvalidControllerIdError, InvalidE164Error } from './errors.ts';

declare const brand: unique symbol;
/** Nominal marker so a validated string cannot be confused with raw input at compile time. */
export type Brand<T, Name extends string> = T & { readonly [brand]: Name };

/** Identifier of a data controller (a customer); keys, pseudonyms and ciphertexts are scoped to it. */
export type ControllerId = Brand<string, 'ControllerId'>;
/** A phone number already normalised to E.164, the only form pseudonyms are computed over. */
export type E164 = Brand<string, 'E164'>;
/** Home cell of a controller; data does not leave it without a transfer mechanism. */
export type Region = 'us' | 'eu';

/** Every region, for validation and iteration. */
export const REGIONS: readonly Region[] = ['us', 'eu'];

// Restricted charset: ids end up in associated data, log lines and key-store rows.
const CONTROLLER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const E164_PATTERN = /^\+[1-9][0-9]{7,14}$/;

/** Guard for controller ids. */
export function isControllerId(value: unknown): value is ControllerId {
  return typeof value === 'string' && CONTROLLER_ID_PATTERN.test(value);
}

/** Validates and brands a controller id; throws InvalidControllerIdError. */
export function toControllerId(value: string): ControllerId {
  if (!isControllerId(value)) throw new InvalidControllerIdError();
  return value;
}

/** Guard for normalised E.164 numbers. */
export function isE164(value: unknown): value is E164 {
  return typeof value === 'string' && E164_PATTERN.test(value);
}

/** Brands an already-normalised E.164 number; throws InvalidE164Error rather than guessing at formatting. */
export function toE164(value: string): E164 {
  if (!isE164(value)) throw new InvalidE164Error();
  return value;
}

/** Guard for regions. */
export function isRegion(value: unknown): value is Region {
  return typeof value === 'string' && (REGIONS as readonly string[]).includes(value);
}
