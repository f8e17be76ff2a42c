import twilio from 'twilio';
import type { CarrierPort, LookupOutcome, OutboundSms, SendOutcome } from '../application/ports.ts';
import { type CarrierFailure, transportKindFromErrorCode } from '../domain/classify.ts';
import { mapTwilioReceipt } from '../domain/receipts.ts';
import { CarrierCallError, carrierPool, jsonOrUndefined } from './carrier-pool.ts';

export interface TwilioCarrierOptions {
  /** US1 or IE1 credentials: IE1 needs its own (US1 tokens do not work there). */
  readonly accountSid: string;
  readonly authToken: string;
  /** `https://api.twilio.com` (us) or `https://api.dublin.ie1.twilio.com` (eu); a simulator in tests. */
  readonly baseUrl: string;
  /** Bound on one carrier call, from the moment it is asked for to the end of the answer's body. */
  readonly timeoutMs?: number;
  /** Connections kept to the API host (sends beyond them wait for one, inside their time bound). */
  readonly connections?: number;
}

/**
 * Twilio. Sends go over a pooled undici client (carrier-pool.ts) with the form the SDK's
 * `messages.create` posts (To, From, Body, StatusCallback, Attempt, ValidityPeriod); nothing
 * retries (a retried create could send twice). Lookups (reconciliation, rare) go through the SDK.
 */
export function twilioCarrier(options: TwilioCarrierOptions): CarrierPort {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const client = twilio(options.accountSid, options.authToken, {
    timeout: timeoutMs,
    autoRetry: false,
  });
  client.api.baseUrl = options.baseUrl;
  const base = new URL(options.baseUrl);
  const pool = carrierPool('twilio', base.origin, timeoutMs, options.connections);
  const path = `${base.pathname.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
  const headers = {
    authorization: `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  return {
    name: 'twilio',
    async send(sms: OutboundSms): Promise<SendOutcome> {
      const form = new URLSearchParams({ To: sms.to, From: sms.from, Body: sms.text });
      if (sms.callbackUrl) form.set('StatusCallback', sms.callbackUrl);
      form.set('Attempt', String(sms.attempt));
      if (sms.validitySeconds)
        form.set('ValidityPeriod', String(Math.max(1, Math.min(36_000, sms.validitySeconds))));
      try {
        const answer = await pool.request('POST', path, headers, form.toString());
        return twilioAnswered(answer.status, answer.text);
      } catch (error) {
        if (error instanceof CarrierCallError) return { accepted: false, failure: error.failure };
        throw error;
      }
    },
    async lookup(carrierMessageId: string): Promise<LookupOutcome> {
      try {
        const message = await client.messages(carrierMessageId).fetch();
        return mapTwilioReceipt({
          messageStatus: message.status,
          ...(message.errorCode ? { errorCode: String(message.errorCode) } : {}),
        });
      } catch (error) {
        if ((error as { status?: number }).status === 404) return { kind: 'not_found' };
        throw error;
      }
    },
    close: () => pool.close(),
  };
}

/**
 * What a Twilio answer means: a 2xx with a `sid` is accepted (with `num_segments`); a 2xx without
 * one is a failure with its status (ambiguous), one whose body does not parse `unexpected`; any
 * other status is described as the SDK's RestException would be: the body's numeric `code` (0
 * means none, as in RFC 9457 bodies), no Retry-After.
 */
export function twilioAnswered(status: number, text: string): SendOutcome {
  if (status >= 200 && status < 300) {
    const body = jsonOrUndefined(text) as { sid?: unknown; num_segments?: unknown } | undefined;
    if (body === undefined) return { accepted: false, failure: { carrier: 'twilio', kind: 'unexpected' } };
    if (typeof body.sid !== 'string' || body.sid.length === 0)
      return { accepted: false, failure: { carrier: 'twilio', kind: 'http', httpStatus: status } };
    const segments = Number(body.num_segments);
    return {
      accepted: true,
      carrierMessageId: body.sid,
      ...(Number.isInteger(segments) && segments > 0 ? { segments } : {}),
    };
  }
  const body = jsonOrUndefined(text) as { code?: unknown } | undefined;
  return { accepted: false, failure: twilioFailure({ status, code: body?.code }) };
}

/** Describes a Twilio error status and code (or what its SDK threw), see CarrierFailure for the rules. */
export function twilioFailure(error: unknown): CarrierFailure {
  const e = error as {
    status?: number;
    code?: unknown;
    isAxiosError?: boolean;
    cause?: { syscall?: string };
  };
  if (!e?.isAxiosError && typeof e?.status === 'number') {
    const code = typeof e.code === 'number' && e.code !== 0 ? String(e.code) : undefined;
    return {
      carrier: 'twilio',
      kind: 'http',
      httpStatus: e.status,
      ...(code ? { carrierCode: code } : {}),
      hasCarrierBody: code !== undefined,
    };
  }
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code === 'ERR_BAD_RESPONSE') return { carrier: 'twilio', kind: 'reset' };
  return { carrier: 'twilio', kind: transportKindFromErrorCode(code, e?.cause?.syscall) };
}
