import { generateKeyPairSync } from 'node:crypto';
import { signTelnyxWebhook, telnyxPublicKeyBase64, twilioSignature } from '@massivesms/testkit/carriers';
import { TelnyxWebhook } from 'telnyx/lib/webhooks';
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { telnyxWebhookVerifier, twilioWebhookVerifier } from '../src/adapters/http/signatures.ts';

// The ingress verifies with keys built once; its verdicts must be the SDKs' own on every case.
describe('Telnyx webhook signatures (ed25519, key built once) agree with the SDK', () => {
  const keys = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const publicKey = telnyxPublicKeyBase64(keys.publicKey);
  const body = JSON.stringify({ data: { id: 'ev-1', event_type: 'message.sent', payload: { id: 'tx-1' } } });
  const ts = String(Math.floor(Date.now() / 1000));
  const old = String(Math.floor(Date.now() / 1000) - 301);
  const signed = (b: string, t: string, key = keys.privateKey) => ({
    'telnyx-signature-ed25519': signTelnyxWebhook(key, b, t),
    'telnyx-timestamp': t,
  });
  const cases: [string, string, Record<string, string>, boolean][] = [
    ['a valid signature', body, signed(body, ts), true],
    ['a tampered body', `${body} `, signed(body, ts), false],
    ['another key', body, signed(body, ts, other.privateKey), false],
    ['a stale timestamp', body, signed(body, old), false],
    ['a timestamp from the future', body, signed(body, String(Number(ts) + 301)), false],
    ['a timestamp that is not digits', body, signed(body, `${ts}.0`), false],
    ['no signature', body, { 'telnyx-timestamp': ts }, false],
    [
      'no timestamp',
      body,
      { 'telnyx-signature-ed25519': signed(body, ts)['telnyx-signature-ed25519'] },
      false,
    ],
    [
      'a signature that is not base64',
      body,
      { ...signed(body, ts), 'telnyx-signature-ed25519': '!!!!' },
      false,
    ],
    [
      'a signature of the wrong length',
      body,
      { ...signed(body, ts), 'telnyx-signature-ed25519': Buffer.alloc(32).toString('base64') },
      false,
    ],
    [
      'unpadded base64',
      body,
      {
        ...signed(body, ts),
        'telnyx-signature-ed25519': signed(body, ts)['telnyx-signature-ed25519'].replace(/=+$/, ''),
      },
      false,
    ],
  ];
  const verify = telnyxWebhookVerifier(publicKey);
  const sdk = new TelnyxWebhook(publicKey);

  it.each(cases)('%s', async (_label, b, headers, valid) => {
    const ours = (() => {
      try {
        verify(b, headers);
        return true;
      } catch {
        return false;
      }
    })();
    const theirs = await sdk.verify(b, headers).then(
      () => true,
      () => false,
    );
    expect({ ours, theirs }).toEqual({ ours: valid, theirs: valid });
  });

  it('returns the parsed body of a verified webhook', () => {
    expect(verify(body, signed(body, ts))).toEqual(JSON.parse(body));
  });
});

describe('Twilio webhook signatures (HMAC-SHA1, key built once) agree with the SDK', () => {
  const token = 'tok-signatures';
  const params = { MessageSid: 'SM1', MessageStatus: 'delivered', ErrorCode: '', To: '+14155552671' };
  const url = 'https://dispatch.example.com/receipts/twilio/acme/m-1';
  const cases: [string, string, string, Record<string, string>][] = [
    ['signed as called', twilioSignature(token, url, params), url, params],
    [
      'signed with the default port, called without',
      twilioSignature(token, 'https://dispatch.example.com:443/receipts/twilio/acme/m-1', params),
      url,
      params,
    ],
    [
      'signed without the port, called with it',
      twilioSignature(token, url, params),
      'https://dispatch.example.com:443/receipts/twilio/acme/m-1',
      params,
    ],
    [
      "signed with an escaped query (the SDK's normalised forms)",
      twilioSignature(token, 'https://dispatch.example.com/receipts/twilio/acme/m-1?a=it%27s', params),
      "https://dispatch.example.com/receipts/twilio/acme/m-1?a=it's",
      params,
    ],
    [
      'a tampered parameter',
      twilioSignature(token, url, params),
      url,
      { ...params, MessageStatus: 'failed' },
    ],
    ['another token', twilioSignature('tok-other', url, params), url, params],
    ['an empty signature', '', url, params],
  ];
  const verify = twilioWebhookVerifier(token);

  it.each(cases)('%s', (_label, signature, calledUrl, p) => {
    expect(verify(signature, calledUrl, p)).toBe(twilio.validateRequest(token, signature, calledUrl, p));
  });

  it('accepts what Twilio signed and refuses a tampered request', () => {
    expect(verify(twilioSignature(token, url, params), url, params)).toBe(true);
    expect(verify(twilioSignature(token, url, params), url, { ...params, To: '+14155550000' })).toBe(false);
  });
});
