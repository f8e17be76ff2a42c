import { createHmac } from 'node:crypto';
import { InvalidE164Error } from './errors.ts';
import { keyObject, type PseudonymKey } from './keys.ts';
import { type Brand, type E164, isE164 } from './types.ts';

/** Stable per-controller reference to a phone number (`ps_` + base64url HMAC-SHA256), safe for logs and keys. */
export type Pseudonym = Brand<string, 'Pseudonym'>;

/** HMAC-SHA256 of the normalised E.164 number under the controller's pseudonym key. */
export function pseudonymise(key: PseudonymKey, e164: E164): Pseudonym {
  // Checked at runtime too: "+49 151..." and "+49151..." would silently yield two pseudonyms for one person.
  if (!isE164(e164)) throw new InvalidE164Error();
  const mac = createHmac('sha256', keyObject(key, 'pseudonym')).update(e164, 'utf8').digest('base64url');
  return `ps_${mac}` as Pseudonym;
}
