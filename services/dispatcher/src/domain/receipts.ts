// Maps carrier delivery receipts to our statuses (DESIGN.md §4). Pure: the ingress verifies the
// signature, parses the body and dedupes; this says what the receipt means; the state machine
// (state-machine.ts) decides whether it changes anything, since receipts arrive duplicated, late
// and out of order.
//
// Our statuses: `queued` (the carrier holds it), `sent` (handed to the downstream network),
// `delivered`, `undelivered` (the carrier tried and the network or handset did not take it) and
// `failed` (the carrier could not send it at all). The carrier's status decides the status; its
// error code only decides the errorCode and reason.
//
// Decisions:
// - Telnyx `delivery_unconfirmed` (final: sent downstream, no handset confirmation ever came) →
//   `undelivered` + CARRIER_DELIVERY_UNCONFIRMED. Every message must end in exactly one terminal
//   status the controller can see, and `sent` is not terminal; `delivered` would claim what nobody
//   confirmed. The code (and its reason, "it may have been delivered") tells a controller not to
//   read it as a certain non-delivery. Twilio has no such status: a message without a DLR stays
//   `sent`, so the application should finalise `sent` messages past their validity period the same
//   way (undelivered + CARRIER_DELIVERY_UNCONFIRMED).
// - `sending` (Twilio and Telnyx) → `queued`: the carrier still holds it; `sent` means it left.
// - Twilio `read` → `delivered` (read implies delivered); `canceled` → `failed` + CARRIER_CANCELED
//   (we never schedule, so a cancel is the carrier's doing and the message was not sent).
// - Unknown statuses and event types are ignored, not guessed: the state machine must never move on
//   a receipt we do not understand. The ingress logs the ignore code and still answers 2xx so the
//   carrier does not retry a receipt that will never mean more.
// - An opted-out code in a receipt (Twilio 21610 for Messaging Services) sets `suppress`.

import { type Carrier, type CarrierErrorCode, carrierCodeInfo } from './carrier-codes.ts';

/** The statuses a carrier receipt can give a message. */
export type ReceiptStatus = 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed';

/** A receipt that says something about the message's status. */
export interface ReceiptUpdate {
  readonly kind: 'status';
  readonly status: ReceiptStatus;
  /** Only for `undelivered` and `failed`. */
  readonly errorCode?: CarrierErrorCode;
  /** Our fixed text, with the carrier's code; never the carrier's free text (it can hold numbers). */
  readonly reason?: string;
  /** The carrier's own code, verbatim, for audit and for classifying new codes later. */
  readonly carrierCode?: string;
  /** The recipient opted out at the carrier: add them to the global suppression list. */
  readonly suppress: boolean;
}

/** A receipt that says nothing we act on, and why. */
export interface ReceiptIgnored {
  readonly kind: 'ignore';
  readonly code: 'RECEIPT_NOT_A_STATUS' | 'RECEIPT_UNKNOWN_STATUS';
  readonly reason: string;
}

/** What one receipt means. */
export type ReceiptMapping = ReceiptUpdate | ReceiptIgnored;

/** The parts of a Telnyx webhook the mapping reads (`data.event_type`, `data.payload.to/errors`). */
export interface TelnyxReceipt {
  readonly eventType: string;
  readonly to?: readonly { readonly status?: string | undefined }[] | undefined;
  readonly errors?: readonly { readonly code?: string | number | undefined }[] | undefined;
}

/** The form fields of a Twilio status callback the mapping reads (`MessageStatus`, `ErrorCode`). */
export interface TwilioReceipt {
  readonly messageStatus: string;
  readonly errorCode?: string | undefined;
}

const telnyxStatuses: Readonly<Record<string, ReceiptStatus>> = {
  queued: 'queued',
  sending: 'queued',
  sent: 'sent',
  delivered: 'delivered',
  sending_failed: 'failed',
  delivery_failed: 'undelivered',
  delivery_unconfirmed: 'undelivered',
};

const twilioStatuses: Readonly<Record<string, ReceiptStatus>> = {
  accepted: 'queued',
  scheduled: 'queued',
  queued: 'queued',
  sending: 'queued',
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

// Outbound delivery events only; message.received (inbound, e.g. STOP) takes another path.
const telnyxReceiptEvents = new Set(['message.sent', 'message.finalized']);

function lookup(table: Readonly<Record<string, ReceiptStatus>>, status: string): ReceiptStatus | undefined {
  return Object.hasOwn(table, status) ? table[status] : undefined;
}

function unknownStatus(carrier: Carrier, status: string): ReceiptIgnored {
  // The status is carrier vocabulary, not personal data, but cap it: it comes from the network.
  return {
    kind: 'ignore',
    code: 'RECEIPT_UNKNOWN_STATUS',
    reason: `${carrier}: unknown status "${status.slice(0, 40)}"`,
  };
}

function failure(
  carrier: Carrier,
  status: 'undelivered' | 'failed',
  carrierCodes: readonly string[],
  fallback: CarrierErrorCode,
): ReceiptUpdate {
  // Several errors can come with one receipt: the first one we know is the most specific reason.
  const known = carrierCodes.find((c) => carrierCodeInfo(carrier, c) !== undefined);
  const carrierCode = known ?? carrierCodes[0];
  const info = carrierCodeInfo(carrier, known);
  const errorCode = info?.code ?? fallback;
  const reason = info
    ? `${carrier} ${carrierCode}: ${info.title}`
    : carrierCode === undefined
      ? `${carrier}: ${status} without an error code`
      : `${carrier} ${carrierCode}: unclassified error`;
  return {
    kind: 'status',
    status,
    errorCode,
    reason,
    ...(carrierCode === undefined ? {} : { carrierCode }),
    suppress: errorCode === 'CARRIER_OPTED_OUT',
  };
}

function codesOf(values: readonly (string | number | undefined)[]): string[] {
  return values.filter((c) => c !== undefined && String(c).trim() !== '').map((c) => String(c).trim());
}

/** Maps a Telnyx message.sent / message.finalized webhook to our status. */
export function mapTelnyxReceipt(r: TelnyxReceipt): ReceiptMapping {
  if (!telnyxReceiptEvents.has(r.eventType)) {
    return {
      kind: 'ignore',
      code: 'RECEIPT_NOT_A_STATUS',
      reason: `telnyx: event ${r.eventType.slice(0, 40)} is not a delivery receipt`,
    };
  }
  // We send to one recipient per message, so to[0] is the message's status.
  const raw = r.to?.[0]?.status;
  if (raw === undefined) {
    // message.sent says it left even without a per-recipient status; message.finalized must say how it ended.
    if (r.eventType === 'message.sent') return { kind: 'status', status: 'sent', suppress: false };
    return unknownStatus('telnyx', '(none)');
  }
  const status = lookup(telnyxStatuses, raw);
  if (status === undefined) return unknownStatus('telnyx', raw);
  if (raw === 'delivery_unconfirmed') {
    return {
      kind: 'status',
      status,
      errorCode: 'CARRIER_DELIVERY_UNCONFIRMED',
      reason: 'telnyx: sent, but no delivery confirmation came back (it may have been delivered)',
      suppress: false,
    };
  }
  if (status === 'failed' || status === 'undelivered') {
    const fallback = status === 'failed' ? 'CARRIER_SENDING_FAILED' : 'CARRIER_UNDELIVERABLE';
    return failure('telnyx', status, codesOf((r.errors ?? []).map((e) => e.code)), fallback);
  }
  return { kind: 'status', status, suppress: false };
}

/** Maps a Twilio status callback (MessageStatus, ErrorCode) to our status. */
export function mapTwilioReceipt(r: TwilioReceipt): ReceiptMapping {
  if (r.messageStatus === 'receiving' || r.messageStatus === 'received') {
    return {
      kind: 'ignore',
      code: 'RECEIPT_NOT_A_STATUS',
      reason: 'twilio: inbound message, not a delivery receipt',
    };
  }
  const status = lookup(twilioStatuses, r.messageStatus);
  if (status === undefined) return unknownStatus('twilio', r.messageStatus);
  if (r.messageStatus === 'canceled') {
    return {
      kind: 'status',
      status,
      errorCode: 'CARRIER_CANCELED',
      reason: 'twilio: canceled before sending',
      suppress: false,
    };
  }
  if (status === 'failed' || status === 'undelivered') {
    const fallback = status === 'failed' ? 'CARRIER_SENDING_FAILED' : 'CARRIER_UNDELIVERABLE';
    return failure('twilio', status, codesOf([r.errorCode]), fallback);
  }
  return { kind: 'status', status, suppress: false };
}
