import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signatureHeader, signedHeaders } from '../../src/domain/signing.ts';

// The Standard Webhooks specification's known-answer vector (reference/webhooks.md).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TIMESTAMP = 1614265330;
const BODY = '{"test": 2432232314}';

describe('Standard Webhooks signing', () => {
  it('matches the specification’s known-answer vector', () => {
    expect(signatureHeader([SECRET], ID, TIMESTAMP, BODY)).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('signs with every secret of a rotation, space-separated, each one verifiable on its own', () => {
    const other = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const now = new Date();
    const headers = signedHeaders([other, SECRET], ID, now, BODY);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    for (const secret of [other, SECRET])
      expect(new Webhook(secret).verify(BODY, headers)).toEqual({ test: 2432232314 });
  });

  it('covers the exact bytes: a changed body or id does not verify', () => {
    const headers = signedHeaders([SECRET], ID, new Date(), BODY);
    expect(() => new Webhook(SECRET).verify('{"test":2432232314}', headers)).toThrow();
    expect(() => new Webhook(SECRET).verify(BODY, { ...headers, 'webhook-id': 'msg_other' })).toThrow();
  });

  it('refuses to sign with no secret or one that is not whsec_', () => {
    expect(() => signatureHeader([], ID, TIMESTAMP, BODY)).toThrow(/at least one secret/);
    expect(() => signatureHeader(['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], ID, TIMESTAMP, BODY)).toThrow(
      /whsec_/,
    );
  });
});
