/** Carriers the dispatcher can send through (the subprocessor registry's SMS routes). */
export type CarrierName = 'telnyx' | 'twilio';

/** Our statuses for a message on its way through a carrier (DESIGN.md §4). */
export type SendStatus = 'sending' | 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'unknown';

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
}

/** What to claim for a message before its first carrier call. */
export interface ClaimRequest {
  readonly controllerId: string;
  readonly messageId: string;
  readonly campaignId: string;
  readonly carrier: CarrierName;
  readonly recipientPseudonym: string;
  readonly instruction: string;
}
