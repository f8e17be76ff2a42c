import { createHash } from 'node:crypto';
import type { StatusEvent, webhookEventTypes } from '@massivesms/contracts';

export type WebhookEventType = (typeof webhookEventTypes)[number];

/** The webhook event type a status maps to (`message.<status>`). */
export function eventTypeOf(status: StatusEvent['status']): WebhookEventType {
  return `message.${status}` as WebhookEventType;
}

/**
 * The `webhook-id` of one (event, endpoint) pair: derived, not random, so a crash between storing a
 * delivery and committing its Kafka offset re-creates the same id (the insert is then a no-op) and
 * the receiver's idempotency key never changes. URL-safe base64: no `.` in it.
 */
export function webhookIdFor(source: string, endpointId: string): string {
  const digest = createHash('sha256').update(`${source}\n${endpointId}`).digest('base64url');
  return `msg_${digest.slice(0, 32)}`;
}

/**
 * What identifies a status change: the message and its `statusSeq` (and status), not the event id.
 * Services republish a status after a crash with a new event id and the same `statusSeq`; that is
 * the same change, so it must be the same webhook.
 */
export function statusChangeKey(
  event: Pick<StatusEvent, 'controllerId' | 'messageId' | 'statusSeq' | 'status'>,
) {
  return `status:${event.controllerId}:${event.messageId}:${event.statusSeq}:${event.status}`;
}

/** The body of a `message.*` webhook: small, with `statusSeq` and the status time for ordering. */
export interface MessageWebhook {
  readonly type: WebhookEventType;
  readonly timestamp: string;
  readonly data: {
    readonly messageId: string;
    readonly campaignId: string;
    readonly status: StatusEvent['status'];
    readonly statusSeq: number;
    readonly occurredAt: string;
    readonly carrier?: string;
    readonly segments?: number;
    readonly errorCode?: string;
    readonly reason?: string;
    /** Decrypted only for the controller's own endpoints. */
    readonly to?: string;
  };
}

/** Serialised once: the string stored is the string signed and sent on every attempt. */
export function messageWebhookBody(event: StatusEvent, recipient: string | undefined, now: Date): string {
  const payload: MessageWebhook = {
    type: eventTypeOf(event.status),
    timestamp: now.toISOString(),
    data: {
      messageId: event.messageId,
      campaignId: event.campaignId,
      status: event.status,
      statusSeq: event.statusSeq,
      occurredAt: event.occurredAt,
      ...(event.carrier ? { carrier: event.carrier } : {}),
      ...(event.segments ? { segments: event.segments } : {}),
      ...(event.errorCode ? { errorCode: event.errorCode } : {}),
      ...(event.reason ? { reason: event.reason } : {}),
      ...(recipient ? { to: recipient } : {}),
    },
  };
  return JSON.stringify(payload);
}
