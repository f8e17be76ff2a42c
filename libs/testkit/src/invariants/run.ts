// What a run produced, as plain data: the input of the invariant checker (check.ts). The readers
// (readers.ts) collect it from the real sources; unit tests write it by hand.
import type { ProcessingEvent, Rejection, StatusEvent } from '@massivesms/contracts';

/** Where a record sits on a topic. */
export interface RecordSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * One request that was sent (a record of `{cell}.sms.requested.v1`). Its identity is (controllerId,
 * messageId) when it carries them; a record that does not (undecodable, no ids) is identified by its
 * position, which the router's rejection names in `source`.
 */
export interface RequestRef {
  readonly controllerId?: string | undefined;
  readonly messageId?: string | undefined;
  readonly source?: RecordSource | undefined;
}

/** A message a carrier simulator accepted. `LedgerEntry` fits; nothing else of it (the number) is read. */
export interface CarrierAcceptance {
  readonly carrier: 'telnyx' | 'twilio';
  readonly carrierMessageId: string;
  /** Our per-message callback URL, `…/receipts/{carrier}/{controllerId}/{messageId}`: whom the send was for. */
  readonly callbackUrl: string | undefined;
}

/** One request the webhook receiver recorded. `ReceivedWebhook` fits. */
export interface WebhookAttempt {
  /** The receiver's endpoint name (`/hooks/<name>`). */
  readonly endpoint: string;
  readonly webhookId: string;
  readonly body: string;
  /** What the receiver answered (2xx: delivered). */
  readonly status: number;
}

/** A webhook endpoint of a controller, subscribed to some event types, served by the receiver under a name. */
export interface WebhookSubscription {
  /** The receiver's endpoint name its URL points at (`/hooks/<name>`). */
  readonly receiverEndpoint: string;
  /** The endpoint id the control plane gave it (processing events name it). */
  readonly endpointId: string;
  readonly controllerId: string;
  /** e.g. `message.delivered`. */
  readonly eventTypes: readonly string[];
}

/** A record of a topic the checker reads that did not decode into its contract. */
export interface UndecodableRecord {
  readonly source: RecordSource;
  /** Why, without the record's content. */
  readonly reason: string;
}

/** Everything a run produced that the invariants speak about. Optional parts are checked only when given. */
export interface RunRecord {
  /** The requests that were sent. */
  readonly requests: readonly RequestRef[];
  /** Every record of `{cell}.sms.status.v1`, republished copies included. */
  readonly statuses: readonly StatusEvent[];
  /** Every record of `{cell}.sms.rejected.v1`. */
  readonly rejections: readonly Rejection[];
  /** What the carrier simulators accepted (their ledgers), both carriers together. */
  readonly carrierAcceptances?: readonly CarrierAcceptance[] | undefined;
  /** What the webhook receiver recorded, and who subscribes to what. */
  readonly webhooks?:
    | {
        readonly attempts: readonly WebhookAttempt[];
        readonly subscriptions: readonly WebhookSubscription[];
      }
    | undefined;
  /** Every record of `{cell}.audit.processing.v1`. */
  readonly processingEvents?: readonly ProcessingEvent[] | undefined;
  /** Records of the topics above that did not decode. */
  readonly undecodable?: readonly UndecodableRecord[] | undefined;
}

/** A carrier acceptance attributed to the message its callback URL names. */
export interface AttributedSend {
  readonly carrier: 'telnyx' | 'twilio';
  readonly carrierMessageId: string;
  readonly controllerId: string;
  readonly messageId: string;
}

/** A webhook the receiver answered 2xx, for one status change of one message, at a known endpoint. */
export interface DeliveredWebhook {
  readonly endpointId: string;
  readonly controllerId: string;
  readonly messageId: string;
  /** `message.<status>`. */
  readonly eventType: string;
  readonly statusSeq: number;
  readonly webhookId: string;
}

/** The facts of a run the processing-event rules derive their expectations from (built by the checker). */
export interface RunFacts {
  /**
   * Requests the router attributed and answered: a status, or a rejection naming their ids (one it
   * could not read is rejected by position only, and is no operation on a known subject).
   */
  readonly answeredRequests: readonly { readonly controllerId: string; readonly messageId: string }[];
  /** Carrier acceptances, attributed. */
  readonly sends: readonly AttributedSend[];
  /** Webhooks delivered, one per (endpoint, status change) even when retried. */
  readonly deliveredWebhooks: readonly DeliveredWebhook[];
}

/** Parses our callback URL (`…/receipts/{carrier}/{controllerId}/{messageId}`) into whom it is for. */
export function callbackTarget(
  url: string | undefined,
): { carrier: string; controllerId: string; messageId: string } | undefined {
  if (!url) return undefined;
  let segments: string[];
  try {
    segments = new URL(url).pathname.split('/').map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  const at = segments.lastIndexOf('receipts');
  if (at < 0 || segments.length !== at + 4) return undefined;
  const [carrier, controllerId, messageId] = segments.slice(at + 1) as [string, string, string];
  if (!carrier || !controllerId || !messageId) return undefined;
  return { carrier, controllerId, messageId };
}

/** The status and sequence a `message.*` webhook body speaks of; undefined for other bodies. */
export function webhookStatusChange(
  body: string,
): { type: string; messageId: string; statusSeq: number; status: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { type, data } = parsed as { type?: unknown; data?: Record<string, unknown> };
  if (typeof type !== 'string' || !type.startsWith('message.') || typeof data !== 'object' || !data)
    return undefined;
  const { messageId, statusSeq, status } = data;
  if (typeof messageId !== 'string' || typeof statusSeq !== 'number' || typeof status !== 'string')
    return undefined;
  return { type, messageId, statusSeq, status };
}
