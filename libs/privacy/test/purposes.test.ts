import { describe, expect, it } from 'vitest';
import { isPurpose, PURPOSE_VOCABULARY, PURPOSES } from '../src/index.ts';

describe('SMS purpose vocabulary', () => {
  it('contains the SMS data uses the pipeline serves, each described', () => {
    expect([...PURPOSES].sort()).toEqual([
      'essential.service.authentication.sms',
      'essential.service.notifications.sms',
      'marketing.communications.sms',
    ]);
    for (const { purpose, description } of PURPOSE_VOCABULARY) {
      expect(purpose, purpose).toMatch(/^[a-z]+(\.[a-z_]+)*\.sms$/);
      expect(description.length, purpose).toBeGreaterThan(20);
    }
    expect(PURPOSES).toEqual(PURPOSE_VOCABULARY.map((entry) => entry.purpose));
  });

  it.each(PURPOSES)('accepts %s', (purpose) => {
    expect(isPurpose(purpose)).toBe(true);
  });

  it.each([
    ['product improvement is not an SMS purpose', 'functional.service.improve'],
    ['another channel', 'marketing.communications.email'],
    ['a parent of an allowed purpose', 'essential.service.notifications'],
    ['different case', 'Marketing.Communications.SMS'],
    ['trailing space', 'marketing.communications.sms '],
    ['Object.prototype member', 'toString'],
    ['prototype key', '__proto__'],
    ['empty', ''],
    ['not a string', 42],
    ['an array holding a purpose', ['marketing.communications.sms']],
    ['null', null],
  ])('refuses %s', (_, value) => {
    expect(isPurpose(value)).toBe(false);
  });
});
