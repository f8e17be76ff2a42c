import Telnyx, { APIError } from 'telnyx';
import type { CarrierPort, LookupOutcome, OutboundSms, SendOutcome } from '../application/ports.ts';
import { type CarrierFailure, parseRetryAfter } from '../domain/classify.ts';
import { mapTelnyxReceipt } from '../domain/receipts.ts';
import { CarrierCallError, carrierPool, jsonOrUndefined, transportFailure } from './carrier-pool.ts';

export interface TelnyxCarrierOptions {
  readonly apiKey: string;
  /** `https://api.telnyx.com/v2` (us) or `https://api.telnyx.eu/v2` (eu); a simulator in tests. */
  readonly baseUrl: string;
  /** Bound on one carrier call, from the moment it is asked for to the end of the answer's body. */
  readonly timeoutMs?: number;
  readonly messagingProfileId?: string;
  /** Connections kept to the API host (sends beyond them wait for one, inside their time bound). */
  readonly connections?: number;
}

/**
 * Telnyx. Sends go over a pooled undici client (carrier-pool.ts): the official SDK goes through
 * WHATWG fetch, which costs about 0.4 ms of CPU per send against 0.1 ms. The body is typed by the
 * SDK's own `MessageSendParams`; nothing retries (a retried send could send twice). Lookups
 * (reconciliation, rare) still go through the SDK.
 */
export function telnyxCarrier(options: TelnyxCarrierOptions): CarrierPort {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const client = new Telnyx({
    apiKey: options.apiKey,
    baseURL: options.baseUrl,
    maxRetries: 0,
    timeout: timeoutMs,
  });
  const base = new URL(options.baseUrl);
  const pool = carrierPool('telnyx', base.origin, timeoutMs, options.connections);
  const path = `${base.pathname.replace(/\/$/, '')}/messages`;
  const headers = {
    authorization: `Bearer ${options.apiKey}`,
    'content-type': 'application/json',
    accept: 'application/json',
  };
  return {
    name: 'telnyx',
    async send(sms: OutboundSms): Promise<SendOutcome> {
      const body: Telnyx.MessageSendParams = {
        to: sms.to,
        from: sms.from,
        text: sms.text,
        type: 'SMS',
        ...(sms.callbackUrl ? { webhook_url: sms.callbackUrl } : {}),
        use_profile_webhooks: false,
        ...(options.messagingProfileId ? { messaging_profile_id: options.messagingProfileId } : {}),
      };
      try {
        const answer = await pool.request('POST', path, headers, JSON.stringify(body));
        return answered(answer.status, answer.headers, answer.text, new Date());
      } catch (error) {
        if (error instanceof CarrierCallError) return { accepted: false, failure: error.failure };
        throw error;
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
    close: () => pool.close(),
  };
}

/**
 * What a Telnyx answer means: a 2xx with `data.id` is accepted; a 2xx without one is a failure with
 * its status (ambiguous: it may have been created); any other status is described from the
 * carrier's error body (`{errors: [{code, …}]}`, absent when a proxy answered) and Retry-After.
 */
export function answered(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
  now: Date,
): SendOutcome {
  if (status >= 200 && status < 300) {
    let data: Telnyx.MessageSendResponse['data'];
    try {
      data = (JSON.parse(text) as Telnyx.MessageSendResponse).data;
    } catch {
      // The body of an accepted message did not parse: we cannot know what the carrier did.
      return { accepted: false, failure: { carrier: 'telnyx', kind: 'unexpected' } };
    }
    const id = data?.id;
    if (!id) return { accepted: false, failure: { carrier: 'telnyx', kind: 'http', httpStatus: status } };
    return { accepted: true, carrierMessageId: id, ...(data?.parts ? { segments: data.parts } : {}) };
  }
  // Undefined for an HTML 502 from a proxy: not the carrier's error format.
  const body = jsonOrUndefined(text) as { errors?: { code?: unknown }[] } | undefined;
  const code = Array.isArray(body?.errors) ? body.errors[0]?.code : undefined;
  const retryAfter = headers['retry-after'];
  return {
    accepted: false,
    failure: {
      carrier: 'telnyx',
      kind: 'http',
      httpStatus: status,
      ...(code !== undefined && code !== null ? { carrierCode: String(code) } : {}),
      hasCarrierBody: Array.isArray(body?.errors) && body.errors.length > 0,
      retryAfterSeconds: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, now),
    },
  };
}

/** Describes what undici threw for a Telnyx call (see CarrierFailure for the rules). */
export function telnyxTransportFailure(error: unknown): CarrierFailure {
  return transportFailure('telnyx', error);
}
