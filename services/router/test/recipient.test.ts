import type { CountryCode } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import { normaliseRecipient, validateSender } from '../src/domain/recipient.ts';

// Every number below was checked against libphonenumber-js 1.13.16 (max metadata) before it was
// written down; the type each one gets is the library's, from its numbering-plan patterns.

interface Accepted {
  raw: string;
  defaultCountry?: CountryCode;
  e164: string;
  country: string | undefined;
  type: string | undefined;
}

const accepted: Accepted[] = [
  // NANP shares ranges between landlines and mobiles: the library cannot tell, so it is accepted.
  { raw: '+14155552671', e164: '+14155552671', country: 'US', type: 'FIXED_LINE_OR_MOBILE' },
  { raw: '+1 (415) 555-2671', e164: '+14155552671', country: 'US', type: 'FIXED_LINE_OR_MOBILE' },
  { raw: '+1.415.555.2671', e164: '+14155552671', country: 'US', type: 'FIXED_LINE_OR_MOBILE' },
  // The library alone refuses "(+1)"; the leading parenthesised calling code is lifted out first.
  { raw: '(+1) 415.555.2671', e164: '+14155552671', country: 'US', type: 'FIXED_LINE_OR_MOBILE' },
  { raw: '  +14155552671\n', e164: '+14155552671', country: 'US', type: 'FIXED_LINE_OR_MOBILE' },
  { raw: '+447400123456', e164: '+447400123456', country: 'GB', type: 'MOBILE' },
  { raw: '+44 7400 123-456', e164: '+447400123456', country: 'GB', type: 'MOBILE' },
  { raw: '(+44) 7400 123456', e164: '+447400123456', country: 'GB', type: 'MOBILE' },
  // The UK habit of writing the trunk prefix "(0)" after the country code.
  { raw: '+44 (0) 7400 123456', e164: '+447400123456', country: 'GB', type: 'MOBILE' },
  { raw: '+4915112345678', e164: '+4915112345678', country: 'DE', type: 'MOBILE' },
  { raw: '+49 151 12345678', e164: '+4915112345678', country: 'DE', type: 'MOBILE' },
  { raw: '+33612345678', e164: '+33612345678', country: 'FR', type: 'MOBILE' },
  { raw: '+33 6 12 34 56 78', e164: '+33612345678', country: 'FR', type: 'MOBILE' },
  { raw: '+61412345678', e164: '+61412345678', country: 'AU', type: 'MOBILE' },
  { raw: '+819012345678', e164: '+819012345678', country: 'JP', type: 'MOBILE' },
  // Text-enabled toll-free and VoIP numbers can receive SMS.
  { raw: '+1 800 555 0199', e164: '+18005550199', country: 'US', type: 'TOLL_FREE' },
  { raw: '+445612345678', e164: '+445612345678', country: 'GB', type: 'VOIP' },
  { raw: '+33901234567', e164: '+33901234567', country: 'FR', type: 'VOIP' },
  // Non-geographic (Iridium, +881): valid, mobile, but no country.
  { raw: '+881612345678', e164: '+881612345678', country: undefined, type: 'MOBILE' },
  // National format only with a default country; an explicit + wins over it.
  { raw: '07400 123456', defaultCountry: 'GB', e164: '+447400123456', country: 'GB', type: 'MOBILE' },
  {
    raw: '(415) 555-2671',
    defaultCountry: 'US',
    e164: '+14155552671',
    country: 'US',
    type: 'FIXED_LINE_OR_MOBILE',
  },
  { raw: '+4915112345678', defaultCountry: 'US', e164: '+4915112345678', country: 'DE', type: 'MOBILE' },
];

interface Refused {
  raw: string;
  defaultCountry?: CountryCode;
  code: 'SMS_INVALID_RECIPIENT' | 'SMS_LANDLINE_RECIPIENT';
  reason: string;
}

const refused: Refused[] = [
  {
    raw: '+442079460000',
    code: 'SMS_LANDLINE_RECIPIENT',
    reason: 'a landline number, which cannot receive SMS',
  },
  {
    raw: '+44 20 7946 0000',
    code: 'SMS_LANDLINE_RECIPIENT',
    reason: 'a landline number, which cannot receive SMS',
  },
  {
    raw: '020 7946 0000',
    defaultCountry: 'GB',
    code: 'SMS_LANDLINE_RECIPIENT',
    reason: 'a landline number, which cannot receive SMS',
  },
  {
    raw: '+493012345678',
    code: 'SMS_LANDLINE_RECIPIENT',
    reason: 'a landline number, which cannot receive SMS',
  },
  {
    raw: '+33142685300',
    code: 'SMS_LANDLINE_RECIPIENT',
    reason: 'a landline number, which cannot receive SMS',
  },
  {
    raw: '+61212345678',
    code: 'SMS_LANDLINE_RECIPIENT',
    reason: 'a landline number, which cannot receive SMS',
  },
  // Parses (a +1 number) but matches no NANP pattern.
  { raw: '+1234', code: 'SMS_INVALID_RECIPIENT', reason: 'not a valid phone number for any country' },
  {
    raw: '+999123456789',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'no country uses this country calling code',
  },
  {
    raw: '12',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'not in international format (+ and country calling code)',
  },
  {
    raw: '4155552671',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'not in international format (+ and country calling code)',
  },
  { raw: 'abc', code: 'SMS_INVALID_RECIPIENT', reason: 'not a phone number' },
  { raw: '', code: 'SMS_INVALID_RECIPIENT', reason: 'not a phone number' },
  { raw: '+1 415 FLOWERS', code: 'SMS_INVALID_RECIPIENT', reason: 'not a phone number' },
  // The whole string must be the number: nothing is mined out of surrounding text.
  { raw: 'call +14155552671', code: 'SMS_INVALID_RECIPIENT', reason: 'not a phone number' },
  { raw: '++14155552671', code: 'SMS_INVALID_RECIPIENT', reason: 'not a phone number' },
  {
    raw: '+14155552671 ext 12',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'has an extension, which SMS cannot reach',
  },
  {
    raw: '+19005550123',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a premium-rate number: a service line, not a handset, and a toll-fraud target',
  },
  {
    raw: '+449012345678',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a premium-rate number: a service line, not a handset, and a toll-fraud target',
  },
  {
    raw: '+34901123456',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a shared-cost number: a service line, not a handset, and a toll-fraud target',
  },
  {
    raw: '+33810123456',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a shared-cost number: a service line, not a handset, and a toll-fraud target',
  },
  {
    raw: '+447012345678',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a personal (call-forwarding) number, which does not reliably receive SMS',
  },
  {
    raw: '+447640123456',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a pager number, which SMS routes do not reach',
  },
  {
    raw: '+445512345678',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a universal access number (a routed business line), which cannot receive SMS',
  },
  {
    raw: '+3933123456789',
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'a voicemail access number, which cannot receive SMS',
  },
];

describe('normaliseRecipient', () => {
  it.each(accepted)('accepts $raw (default $defaultCountry) as $e164 $type', (row) => {
    const options = row.defaultCountry ? { defaultCountry: row.defaultCountry } : undefined;
    expect(normaliseRecipient(row.raw, options)).toEqual({
      ok: true,
      e164: row.e164,
      country: row.country,
      type: row.type,
    });
  });

  it.each(refused)('refuses $raw with $code', (row) => {
    const options = row.defaultCountry ? { defaultCountry: row.defaultCountry } : undefined;
    expect(normaliseRecipient(row.raw, options)).toEqual({ ok: false, code: row.code, reason: row.reason });
  });

  it('never puts the number, or any run of its digits, in a reason', () => {
    for (const row of refused) {
      const result = normaliseRecipient(
        row.raw,
        row.defaultCountry ? { defaultCountry: row.defaultCountry } : {},
      );
      if (result.ok) throw new Error(`expected a refusal for row ${refused.indexOf(row)}`);
      expect(result.reason).not.toMatch(/\d/);
    }
  });
});

interface SenderRow {
  raw: string;
  kind?: 'e164' | 'short_code' | 'alphanumeric';
  value?: string;
  reason?: string;
}

const senders: SenderRow[] = [
  { raw: '+14155552671', kind: 'e164', value: '+14155552671' },
  { raw: '+447400123456', kind: 'e164', value: '+447400123456' },
  // Senders are not type-checked: text-enabled landlines and toll-free numbers do send SMS.
  { raw: '+442079460000', kind: 'e164', value: '+442079460000' },
  { raw: '+18005550199', kind: 'e164', value: '+18005550199' },
  { raw: '123', kind: 'short_code', value: '123' },
  { raw: '12345', kind: 'short_code', value: '12345' },
  { raw: '123456', kind: 'short_code', value: '123456' },
  { raw: '12345678', kind: 'short_code', value: '12345678' },
  { raw: 'A', kind: 'alphanumeric', value: 'A' },
  { raw: 'MassiveSMS', kind: 'alphanumeric', value: 'MassiveSMS' },
  { raw: 'Acme Bank', kind: 'alphanumeric', value: 'Acme Bank' },
  { raw: 'Shop24', kind: 'alphanumeric', value: 'Shop24' },
  { raw: '24 7 Taxi', kind: 'alphanumeric', value: '24 7 Taxi' },
  { raw: 'ABCDEFGHIJK', kind: 'alphanumeric', value: 'ABCDEFGHIJK' },
  { raw: '', reason: 'empty sender' },
  // A sender goes to the carrier as written, so a formatted E.164 number is refused.
  { raw: '+1 415 555 2671', reason: 'not in E.164 form (+ and up to 15 digits, no separators)' },
  { raw: '+0123456', reason: 'not in E.164 form (+ and up to 15 digits, no separators)' },
  { raw: '+1234567890123456', reason: 'not in E.164 form (+ and up to 15 digits, no separators)' },
  { raw: '+1234', reason: 'not a valid phone number for any country' },
  { raw: '+999123456789', reason: 'not a valid phone number for any country' },
  { raw: '12', reason: 'a short code has 3 to 8 digits; a longer number needs E.164 form with +' },
  { raw: '123456789', reason: 'a short code has 3 to 8 digits; a longer number needs E.164 form with +' },
  { raw: '14155552671', reason: 'a short code has 3 to 8 digits; a longer number needs E.164 form with +' },
  { raw: 'ABCDEFGHIJKL', reason: 'an alphanumeric sender id has at most 11 characters' },
  { raw: 'Acme-Bank', reason: 'an alphanumeric sender id may only contain A–Z, a–z, 0–9 and spaces' },
  { raw: 'Acme_Bank', reason: 'an alphanumeric sender id may only contain A–Z, a–z, 0–9 and spaces' },
  { raw: 'Café', reason: 'an alphanumeric sender id may only contain A–Z, a–z, 0–9 and spaces' },
  { raw: ' Acme', reason: 'an alphanumeric sender id may not start or end with a space' },
  { raw: 'Acme ', reason: 'an alphanumeric sender id may not start or end with a space' },
  { raw: '123 456', reason: 'an alphanumeric sender id needs at least one letter' },
];

describe('validateSender', () => {
  it.each(senders)('$raw → $kind$reason', ({ raw, kind, value, reason }) => {
    const expected = kind ? { ok: true, kind, value } : { ok: false, code: 'SMS_INVALID_SENDER', reason };
    expect(validateSender(raw)).toEqual(expected);
  });

  it('answers the same for a sender seen before, also after more senders than it keeps', () => {
    const first = senders.map(({ raw }) => validateSender(raw));
    for (let i = 0; i < 1_500; i++) expect(validateSender(`Shop${i}`)).toMatchObject({ ok: true });
    expect(senders.map(({ raw }) => validateSender(raw))).toEqual(first);
    // A kept answer is shared between callers, so nobody may change it.
    expect(Object.isFrozen(validateSender('+14155550100'))).toBe(true);
  });
});
