// Recipient normalisation and sender validation. Pure: no I/O. Uses the `max` metadata of
// libphonenumber-js because only it carries the per-type patterns that `getType()` needs to tell a
// landline from a mobile; with the default `min` metadata most numbers would have no type.
//
// Reasons never contain the number: they end up in statuses, logs and webhooks, and a phone number
// is personal data.

import type { CountryCode, PhoneNumber, PhoneNumberType } from 'libphonenumber-js/max';
import { ParseError, parsePhoneNumberWithError } from 'libphonenumber-js/max';

/** A recipient in E.164 with what the numbering plan says about it, or why it cannot get an SMS. */
export type RecipientResult =
  | { ok: true; e164: string; country: CountryCode | undefined; type: PhoneNumberType | undefined }
  | { ok: false; code: 'SMS_INVALID_RECIPIENT' | 'SMS_LANDLINE_RECIPIENT'; reason: string };

/** A sender and its kind (carriers route and price each kind differently), or why it is not one. */
export type SenderResult =
  | { ok: true; kind: 'e164' | 'short_code' | 'alphanumeric'; value: string }
  | { ok: false; code: 'SMS_INVALID_SENDER'; reason: string };

// Whether each number type can take an SMS. A Record so that a type added by a library upgrade
// fails type checking here instead of being silently accepted or refused.
const TYPE_POLICY: Record<PhoneNumberType, { ok: true } | { ok: false; landline: boolean; reason: string }> =
  {
    MOBILE: { ok: true },
    // NANP (+1) and some other plans share ranges between landlines and mobiles: the library cannot
    // tell, so refusing would block most US numbers. The carrier rejects a real landline (class D).
    FIXED_LINE_OR_MOBILE: { ok: true },
    // Text-enabled toll-free and VoIP numbers receive SMS (toll-free is a common US business channel).
    TOLL_FREE: { ok: true },
    VOIP: { ok: true },
    FIXED_LINE: { ok: false, landline: true, reason: 'a landline number, which cannot receive SMS' },
    // Sending to premium-rate or shared-cost ranges is how SMS-pumping fraud makes money, and they
    // are service lines, not handsets.
    PREMIUM_RATE: {
      ok: false,
      landline: false,
      reason: 'a premium-rate number: a service line, not a handset, and a toll-fraud target',
    },
    SHARED_COST: {
      ok: false,
      landline: false,
      reason: 'a shared-cost number: a service line, not a handset, and a toll-fraud target',
    },
    // Forwarding numbers (e.g. UK 070) forward calls, not SMS, and are a known fraud vector.
    PERSONAL_NUMBER: {
      ok: false,
      landline: false,
      reason: 'a personal (call-forwarding) number, which does not reliably receive SMS',
    },
    PAGER: { ok: false, landline: false, reason: 'a pager number, which SMS routes do not reach' },
    UAN: {
      ok: false,
      landline: false,
      reason: 'a universal access number (a routed business line), which cannot receive SMS',
    },
    VOICEMAIL: { ok: false, landline: false, reason: 'a voicemail access number, which cannot receive SMS' },
  };

// Why parsing failed, keyed by ParseError message (documented: NOT_A_NUMBER, INVALID_COUNTRY,
// TOO_SHORT, TOO_LONG).
const PARSE_REASONS: Readonly<Record<string, string>> = {
  NOT_A_NUMBER: 'not a phone number',
  TOO_SHORT: 'too short to be a phone number',
  TOO_LONG: 'too long to be a phone number',
};

function invalidRecipient(reason: string): RecipientResult {
  return { ok: false, code: 'SMS_INVALID_RECIPIENT', reason };
}

/** Parses `raw` with the whole string as the number; a ParseError becomes a reason, anything else is a bug and is rethrown. */
function parse(raw: string, defaultCountry: CountryCode | undefined): PhoneNumber | { reason: string } {
  try {
    // extract: false so that "call +1 415…" or a number followed by junk is refused, not mined.
    return parsePhoneNumberWithError(raw, { defaultCountry, extract: false });
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    if (error.message === 'INVALID_COUNTRY') {
      return {
        reason: raw.startsWith('+')
          ? 'no country uses this country calling code'
          : 'not in international format (+ and country calling code)',
      };
    }
    return { reason: PARSE_REASONS[error.message] ?? 'not a phone number' };
  }
}

/** Normalises a recipient to E.164 and refuses numbers that are invalid or cannot take an SMS (landlines, premium rate…). */
export function normaliseRecipient(raw: string, options?: { defaultCountry?: CountryCode }): RecipientResult {
  // "(+44) 7400 123456" is a common way to write a number but the library refuses a `+` inside
  // parentheses; lift a leading parenthesised calling code out. Everything else is left to it.
  const input = raw.trim().replace(/^\(\s*(\+\d{1,3})\s*\)/, '$1 ');
  const parsed = parse(input, options?.defaultCountry);
  if ('reason' in parsed) return invalidRecipient(parsed.reason);
  if (!parsed.isValid()) return invalidRecipient('not a valid phone number for any country');
  // An extension is dialled after the call connects; an SMS cannot carry it.
  if (parsed.ext !== undefined) return invalidRecipient('has an extension, which SMS cannot reach');
  const type = parsed.getType();
  // No type on a valid number means the metadata has no pattern for it: like FIXED_LINE_OR_MOBILE,
  // the library cannot tell, so let the carrier decide.
  if (type !== undefined) {
    const policy = TYPE_POLICY[type];
    if (!policy.ok) {
      return {
        ok: false,
        code: policy.landline ? 'SMS_LANDLINE_RECIPIENT' : 'SMS_INVALID_RECIPIENT',
        reason: policy.reason,
      };
    }
  }
  return { ok: true, e164: parsed.number, country: parsed.country, type };
}

// A sender is configuration passed to the carrier as written, so it must already be canonical:
// E.164 without spaces, bare digits for a short code, or an alphanumeric id.
const E164_FORM = /^\+[1-9]\d{1,14}$/;
const SHORT_CODE = /^\d{3,8}$/;
const ALPHANUMERIC_CHARS = /^[A-Za-z0-9 ]+$/;
const ALPHANUMERIC_MAX = 11; // 11 GSM-7 characters fit the TP-OA address field

function invalidSender(reason: string): SenderResult {
  return { ok: false, code: 'SMS_INVALID_SENDER', reason };
}

// Senders are few (a controller's numbers and ids) and repeat on every request: classifying one
// parses it with libphonenumber (~12 us), so results are kept, up to a bound.
const MAX_SENDERS_KEPT = 1_000;
const senders = new Map<string, SenderResult>();

/** Classifies a sender as an E.164 number, a short code (3–8 digits) or an alphanumeric id (1–11 of A–Z, a–z, 0–9, space; at least one letter). */
export function validateSender(raw: string): SenderResult {
  let result = senders.get(raw);
  if (result === undefined) {
    result = Object.freeze(classifySender(raw));
    if (senders.size >= MAX_SENDERS_KEPT) senders.clear();
    senders.set(raw, result);
  }
  return result;
}

function classifySender(raw: string): SenderResult {
  if (raw.length === 0) return invalidSender('empty sender');
  if (raw.startsWith('+')) {
    if (!E164_FORM.test(raw))
      return invalidSender('not in E.164 form (+ and up to 15 digits, no separators)');
    const parsed = parse(raw, undefined);
    if ('reason' in parsed || !parsed.isValid())
      return invalidSender('not a valid phone number for any country');
    return { ok: true, kind: 'e164', value: parsed.number };
  }
  if (/^\d+$/.test(raw)) {
    if (SHORT_CODE.test(raw)) return { ok: true, kind: 'short_code', value: raw };
    // Bare digits longer than a short code are a long number without its country code.
    return invalidSender('a short code has 3 to 8 digits; a longer number needs E.164 form with +');
  }
  if (raw.length > ALPHANUMERIC_MAX)
    return invalidSender('an alphanumeric sender id has at most 11 characters');
  if (!ALPHANUMERIC_CHARS.test(raw)) {
    return invalidSender('an alphanumeric sender id may only contain A–Z, a–z, 0–9 and spaces');
  }
  if (raw.startsWith(' ') || raw.endsWith(' ')) {
    return invalidSender('an alphanumeric sender id may not start or end with a space');
  }
  // Handsets show an all-digit id as a number someone could call back; carriers require a letter.
  if (!/[A-Za-z]/.test(raw)) return invalidSender('an alphanumeric sender id needs at least one letter');
  return { ok: true, kind: 'alphanumeric', value: raw };
}
