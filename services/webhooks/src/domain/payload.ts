import { createHash } from 'node:crypto';
import type { MessageWebhook, StatusEvent, WebhookEventType } from '@massivesms/contracts';

export type { WebhookEventType };

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

/** Serialised once: the string stored is the string signed and sent on every attempt. */
export function messageWebhookBody(event: StatusEvent, recipient: string | undefined, now: Date): string {
  // The body's schema is the contract's (libs/contracts/src/webhooks.ts): what docs/webhooks.md and
  // the OpenAPI document describe. A status without an event type (`unknown`) is never subscribed to.
  const payload: MessageWebhook = {
    type: eventTypeOf(event.status) as MessageWebhook['type'],
    timestamp: now.toISOString(),
    data: {
      messageId: event.messageId,
      campaignId: event.campaignId,
      status: event.status as MessageWebhook['data']['status'],
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
