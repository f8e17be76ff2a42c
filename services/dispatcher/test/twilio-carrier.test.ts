import { describe, expect, it } from 'vitest';
import { twilioAnswered } from '../src/adapters/twilio-carrier.ts';

// What the Twilio adapter makes of each answer (it sends over its own undici pool, and reads an
// error the way the SDK's RestException / TwilioServiceException did).
describe('a Twilio answer', () => {
  it.each([
    [
      '201 with a sid and num_segments is accepted with its segments',
      201,
      JSON.stringify({ sid: 'SM1', num_segments: '2', status: 'queued' }),
      { accepted: true, carrierMessageId: 'SM1', segments: 2 },
    ],
    [
      '201 without a sid is a failure with its status (it may have been created)',
      201,
      JSON.stringify({ status: 'queued' }),
      { accepted: false, failure: { carrier: 'twilio', kind: 'http', httpStatus: 201 } },
    ],
    [
      '201 whose body does not parse is unexpected',
      201,
      '<html>',
      { accepted: false, failure: { carrier: 'twilio', kind: 'unexpected' } },
    ],
    [
      '400 with a legacy error body carries its code',
      400,
      JSON.stringify({ code: 21211, message: "Invalid 'To' Phone Number", status: 400 }),
      {
        accepted: false,
        failure: {
          carrier: 'twilio',
          kind: 'http',
          httpStatus: 400,
          carrierCode: '21211',
          hasCarrierBody: true,
        },
      },
    ],
    [
      'an RFC 9457 body with code 0 has no code',
      503,
      JSON.stringify({ type: 'about:blank', title: 'Unavailable', status: 503, code: 0 }),
      {
        accepted: false,
        failure: { carrier: 'twilio', kind: 'http', httpStatus: 503, hasCarrierBody: false },
      },
    ],
    [
      'a 502 from a proxy (HTML) has no carrier body',
      502,
      '<html>Bad gateway</html>',
      {
        accepted: false,
        failure: { carrier: 'twilio', kind: 'http', httpStatus: 502, hasCarrierBody: false },
      },
    ],
  ] as const)('%s', (_label, status, text, expected) => {
    expect(twilioAnswered(status, text)).toEqual(expected);
  });
});
