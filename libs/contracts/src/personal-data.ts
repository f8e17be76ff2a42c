import { isValidPhoneNumber } from 'libphonenumber-js/max';

// Recognising personal data in free text: the log scrubber (libs/telemetry) replaces what this finds,
// and the contracts refuse it where none may be (request metadata). One definition for both.

// A phone number in any written form: an optional international prefix ("+", URL-encoded "%2B",
// JSON-escaped "\u002B"), then 7–18 digits with up to three separators between any two (space,
// no-break space, dot, dash, slash, parentheses, URL-encoded space "%20", form-encoded "+").
// Not inside a word or right after "x-"/"x." (UUID groups, versions, dotted ids), not followed by a
// letter or digit. Which candidates are numbers is decided in `phone` below.
const SEP = String.raw`(?:[ \u00a0.\-/()]|%20|\+(?=\d)){0,3}`;
const PHONE = new RegExp(
  String.raw`(?<![\w%+\\]|\w[-.])(\+|%2[Bb]|\\u002[Bb])?${SEP}\d(?:${SEP}\d){6,17}(?!\w)`,
  'g',
);
const NON_DIGITS = /\D/g;
// Bounded parts (RFC 5321 limits) keep the scan linear on long strings without an address.
/** An e-mail address. */
export const EMAIL_PATTERN =
  /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b/g;
// A run of seven digits (separators allowed) is where any phone number starts: strings without one
// (most log lines) skip the phone scan.
const SEVEN_DIGITS = /\d(?:\D{0,3}\d){6}/;

// Validating costs ~50 µs (libphonenumber-js builds its metadata view per call): verdicts of bare digit
// runs are remembered, so a repeated id or offset is judged once.
const VERDICTS_MAX = 1024;
const verdicts = new Map<string, boolean>();

function validInternational(digits: string): boolean {
  let verdict = verdicts.get(digits);
  if (verdict === undefined) {
    verdict = digits.length >= 8 && digits.length <= 15 && isValidPhoneNumber(`+${digits}`);
    if (verdicts.size >= VERDICTS_MAX) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(digits, verdict);
  }
  return verdict;
}

/**
 * Whether a candidate is a phone number. With an explicit "+" any 7–15 digits not starting with 0
 * count (a carrier's own format may be unknown to the metadata). Without one the digits must make a
 * valid number once read as international: after a dialling prefix (00, 011) or as they stand
 * (14155550123); ids, offsets and timestamps rarely do (a 13-digit epoch in ms is no NANP number).
 */
function isPhone(prefix: string | undefined, digits: string): boolean {
  if (prefix !== undefined) return digits.length >= 7 && digits.length <= 15 && digits[0] !== '0';
  if (digits.startsWith('011')) return validInternational(digits.slice(3));
  if (digits.startsWith('00')) return validInternational(digits.slice(2));
  return digits.length >= 10 && validInternational(digits);
}

function phone(placeholder: string, match: string, prefix: string | undefined): string {
  const digits = match
    .slice(prefix?.length ?? 0)
    .replaceAll('%20', '')
    .replace(NON_DIGITS, '');
  if (isPhone(prefix, digits)) {
    return placeholder;
  }
  // The run may have swallowed a neighbouring number ("batch 3 14155550123"): try without its first group.
  const rest = /^(?:\+|%2[Bb])?\d+(?:[ \u00a0]|%20)+(?=\d)/.exec(match);
  return rest
    ? rest[0] + match.slice(rest[0].length).replace(PHONE, (m, p) => phone(placeholder, m, p))
    : match;
}

/** Replaces every phone number in `text`, in any written form, with `placeholder`. */
export function redactPhoneNumbers(text: string, placeholder: string): string {
  if (!SEVEN_DIGITS.test(text)) return text;
  return text.replace(PHONE, (m, p) => phone(placeholder, m, p));
}

const PROBE = '\u0000';

/** What kind of personal data `text` holds, if any: a phone number (any written form) or an e-mail address. */
export function personalDataIn(text: string): 'phone_number' | 'email' | undefined {
  if (redactPhoneNumbers(text, PROBE) !== text) return 'phone_number';
  EMAIL_PATTERN.lastIndex = 0;
  if (text.includes('@') && EMAIL_PATTERN.test(text)) return 'email';
  return undefined;
}
