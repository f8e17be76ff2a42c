import Telnyx, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'telnyx';
import type { CarrierPort, LookupOutcome, OutboundSms, SendOutcome } from '../application/ports.ts';
import { type CarrierFailure, parseRetryAfter, transportKindFromErrorCode } from '../domain/classify.ts';
import { mapTelnyxReceipt } from '../domain/receipts.ts';

export interface TelnyxCarrierOptions {
  readonly apiKey: string;
  /** `https://api.telnyx.com/v2` (us) or `https://api.telnyx.eu/v2` (eu); a simulator in tests. */
  readonly baseUrl: string;
  readonly timeoutMs?: number;
  readonly messagingProfileId?: string;
}

/** Telnyx through its official SDK, with its retries OFF: a retried send could send twice. */
export function telnyxCarrier(options: TelnyxCarrierOptions): CarrierPort {
  const client = new Telnyx({
    apiKey: options.apiKey,
    baseURL: options.baseUrl,
    maxRetries: 0,
    timeout: options.timeoutMs ?? 10_000,
  });
  return {
    name: 'telnyx',
    async send(sms: OutboundSms): Promise<SendOutcome> {
      try {
        const response = await client.messages.send({
          to: sms.to,
          from: sms.from,
          text: sms.text,
          type: 'SMS',
          ...(sms.callbackUrl ? { webhook_url: sms.callbackUrl } : {}),
          use_profile_webhooks: false,
          ...(options.messagingProfileId ? { messaging_profile_id: options.messagingProfileId } : {}),
        });
        const id = response.data?.id;
        if (!id) return { accepted: false, failure: { carrier: 'telnyx', kind: 'http', httpStatus: 200 } };
        return {
          accepted: true,
          carrierMessageId: id,
          ...(response.data?.parts ? { segments: response.data.parts } : {}),
        };
      } catch (error) {
        return { accepted: false, failure: telnyxFailure(error, new Date()) };
      }
    },
    async lookup(carrierMessageId: string): Promise<LookupOutcome> {
      try {
        const { data } = await client.messages.retrieve(carrierMessageId);
        const payload = data as
          | { to?: { status?: string }[]; errors?: { code?: string | number }[] }
          | undefined;
        // Read like a final receipt: the message record carries the same per-recipient status.
        return mapTelnyxReceipt({ eventType: 'message.finalized', to: payload?.to, errors: payload?.errors });
      } catch (error) {
        if (error instanceof APIError && error.status === 404) return { kind: 'not_found' };
        throw error;
      }
    },
  };
}

/** Describes what the Telnyx SDK threw, without the SDK (see CarrierFailure for the rules). */
export function telnyxFailure(error: unknown, now: Date): CarrierFailure {
  // The connection errors extend APIError with no status: test them first.
  if (error instanceof APIConnectionTimeoutError || error instanceof APIUserAbortError) {
    return { carrier: 'telnyx', kind: 'response_timeout' };
  }
  if (error instanceof APIConnectionError) {
    const inner = (error.cause as { cause?: { code?: string; syscall?: string } } | undefined)?.cause;
    return { carrier: 'telnyx', kind: transportKindFromErrorCode(inner?.code, inner?.syscall) };
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const body = error.error as { errors?: { code?: unknown }[] } | undefined;
    const code = body?.errors?.[0]?.code;
    return {
      carrier: 'telnyx',
      kind: 'http',
      httpStatus: error.status,
      ...(code !== undefined ? { carrierCode: String(code) } : {}),
      hasCarrierBody: Array.isArray(body?.errors) && body.errors.length > 0,
      retryAfterSeconds: parseRetryAfter(error.headers?.get('retry-after'), now),
    };
  }
  const cause = (error as { cause?: { code?: string; syscall?: string } } | undefined)?.cause;
  return { carrier: 'telnyx', kind: transportKindFromErrorCode(cause?.code, cause?.syscall) };
}
