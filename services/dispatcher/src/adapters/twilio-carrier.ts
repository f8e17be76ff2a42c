import twilio from 'twilio';
import type { CarrierPort, LookupOutcome, OutboundSms, SendOutcome } from '../application/ports.ts';
import { type CarrierFailure, transportKindFromErrorCode } from '../domain/classify.ts';
import { mapTwilioReceipt } from '../domain/receipts.ts';

export interface TwilioCarrierOptions {
  /** US1 or IE1 credentials: IE1 needs its own (US1 tokens do not work there). */
  readonly accountSid: string;
  readonly authToken: string;
  /** `https://api.twilio.com` (us) or `https://api.dublin.ie1.twilio.com` (eu); a simulator in tests. */
  readonly baseUrl: string;
  readonly timeoutMs?: number;
}

/** Twilio through its official SDK; auto-retry stays off (its default), a retried create could send twice. */
export function twilioCarrier(options: TwilioCarrierOptions): CarrierPort {
  const client = twilio(options.accountSid, options.authToken, {
    timeout: options.timeoutMs ?? 10_000,
    autoRetry: false,
  });
  client.api.baseUrl = options.baseUrl;
  return {
    name: 'twilio',
    async send(sms: OutboundSms): Promise<SendOutcome> {
      try {
        const message = await client.messages.create({
          to: sms.to,
          from: sms.from,
          body: sms.text,
          ...(sms.callbackUrl ? { statusCallback: sms.callbackUrl } : {}),
          attempt: sms.attempt,
          ...(sms.validitySeconds
            ? { validityPeriod: Math.max(1, Math.min(36_000, sms.validitySeconds)) }
            : {}),
        });
        const segments = Number(message.numSegments);
        return {
          accepted: true,
          carrierMessageId: message.sid,
          ...(Number.isInteger(segments) && segments > 0 ? { segments } : {}),
        };
      } catch (error) {
        return { accepted: false, failure: twilioFailure(error) };
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
  };
}

/** Describes what the Twilio SDK threw, without the SDK (see CarrierFailure for the rules). */
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
