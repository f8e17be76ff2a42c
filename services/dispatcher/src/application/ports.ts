/** Carriers the dispatcher can send through (the subprocessor registry's SMS routes). */
export type CarrierName = 'telnyx' | 'twilio';

/** Our statuses for a message on its way through a carrier (DESIGN.md §4). */
export type SendStatus =
  | 'sending'
  | 'queued'
  | 'sent'
  | 'delivered'
  | 'undelivered'
  | 'failed'
  | 'unknown'
  | 'expired';

/** A claimed message as the dispatcher stores it. */
export interface DispatchRow {
  readonly controllerId: string;
  readonly messageId: string;
  readonly campaignId: string;
  readonly status: SendStatus;
  readonly statusSeq: number;
  readonly carrier: CarrierName;
  readonly attempt: number;
  readonly carrierMessageId: string | null;
  readonly segments: number | null;
  readonly errorCode: string | null;
  readonly reason: string | null;
  readonly recipientPseudonym: string;
  readonly instruction: string;
  /** The purpose it is processed for (absent on rows claimed before migration 0007). */
  readonly purpose?: string;
  /** When the row last changed (its status, or a fail-over). */
  readonly updatedAt: Date;
}

/** What to claim for a message before its first carrier call. */
export interface ClaimRequest {
  readonly controllerId: string;
  readonly messageId: string;
  readonly campaignId: string;
  readonly carrier: CarrierName;
  readonly recipientPseudonym: string;
  readonly instruction: string;
  /** The sender it goes out from (the controller's number, short code or alphanumeric id). */
  readonly sender?: string;
  /** The purpose it is processed for (audited with every attempt). */
  readonly purpose?: string;
}

/** One SMS as a carrier receives it (decrypted just for the call; never logged). */
export interface OutboundSms {
  readonly to: string;
  readonly from: string;
  readonly text: string;
  /** Per-message receipt URL carrying our message id (reconciliation of lost responses); none for HELP replies. */
  readonly callbackUrl?: string;
  /** Total attempts across carriers so far, this one included (Twilio `Attempt`). */
  readonly attempt: number;
  /** Seconds the carrier may keep trying (Twilio `ValidityPeriod`), from `validUntil`. */
  readonly validitySeconds?: number;
}

/** What a carrier call ended in: accepted with its id (class B), or a failure to classify. */
export type SendOutcome =
  | { readonly accepted: true; readonly carrierMessageId: string; readonly segments?: number }
  | { readonly accepted: false; readonly failure: import('../domain/classify.ts').CarrierFailure };

/**
 * What the carrier says about a message it accepted when asked (reconciliation of a lost receipt):
 * its status mapped like a receipt, or `not_found` (unknown id, or older than the carrier keeps).
 */
export type LookupOutcome = import('../domain/receipts.ts').ReceiptMapping | { readonly kind: 'not_found' };

/** The carrier port: one adapter per subprocessor, pointed at the cell's region host. */
export interface CarrierPort {
  readonly name: CarrierName;
  send(sms: OutboundSms): Promise<SendOutcome>;
  /** Asks the carrier for a message's status by its id; throws when the carrier cannot answer now. */
  lookup(carrierMessageId: string): Promise<LookupOutcome>;
  /** Closes the adapter's connections (waiting for calls in flight); the dispatcher calls it at stop. */
  close?(): Promise<void>;
}
