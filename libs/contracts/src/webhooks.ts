import { z } from 'zod';
import { carrierSchema, type MessageStatus } from './events.ts';
import { webhookEventTypes } from './state.ts';

// The bodies of the webhooks sent to customers' endpoints (docs/webhooks.md). The webhooks service
// builds them from these types; the guide's tables, the control API's OpenAPI `webhooks` section and
// the exported JSON Schemas are generated from these schemas.

const timestamp = z.iso.datetime({ offset: true });

export type WebhookEventType = (typeof webhookEventTypes)[number];
export type MessageWebhookType = Extract<WebhookEventType, `message.${string}`>;
export type EndpointWebhookType = Extract<WebhookEventType, `endpoint.${string}`>;

/** The `message.*` event types: one per message status an endpoint can subscribe to. */
export const messageWebhookTypes = webhookEventTypes.filter((t): t is MessageWebhookType =>
  t.startsWith('message.'),
) as [MessageWebhookType, ...MessageWebhookType[]];
/** The `endpoint.*` event types: another endpoint of the same controller failing, disabled, recovered. */
export const endpointWebhookTypes = webhookEventTypes.filter((t): t is EndpointWebhookType =>
  t.startsWith('endpoint.'),
) as [EndpointWebhookType, ...EndpointWebhookType[]];

/** The status a `message.<status>` webhook carries. */
export const statusOfWebhookType = (type: MessageWebhookType) =>
  type.slice('message.'.length) as Exclude<MessageStatus, 'unknown'>;

const messageData = z.strictObject({
  messageId: z.string().describe('The producer’s message id (`sms.requested.v1`).'),
  campaignId: z.string().describe('The producer’s campaign id.'),
  status: z
    .enum(messageWebhookTypes.map(statusOfWebhookType) as [Exclude<MessageStatus, 'unknown'>])
    .describe('The message status: the event type without `message.`.'),
  statusSeq: z
    .int()
    .min(0)
    .describe(
      'Monotonic per message: webhooks are not ordered, so ignore one whose statusSeq is not above the last you applied for that message.',
    ),
  occurredAt: timestamp.describe('When the status changed.'),
  carrier: carrierSchema.optional().describe('Subprocessor that carried the message, once chosen.'),
  segments: z.int().min(1).max(10).optional().describe('SMS segments, once sent.'),
  errorCode: z
    .string()
    .optional()
    .describe('Stable error code of a failure or rejection (libs/contracts/src/errors.ts).'),
  reason: z.string().optional().describe('Human-readable reason; never personal data.'),
  to: z
    .string()
    .optional()
    .describe('The recipient (E.164), decrypted for the controller’s own endpoints; absent when unknown.'),
});

/** The body of every `message.*` webhook (exported as JSON Schema `webhook.message.v1`). */
export const messageWebhookSchema = z
  .strictObject({
    type: z.enum(messageWebhookTypes).describe('The event type: `message.<status>`.'),
    timestamp: timestamp.describe('When the webhook was made (the same on every attempt).'),
    data: messageData.describe('The status change.'),
  })
  .describe('A message status change, sent to the controller’s endpoints subscribed to its type.');
export type MessageWebhook = z.infer<typeof messageWebhookSchema>;

const endpointData = z.strictObject({
  endpointId: z.string().describe('The endpoint that changed state (not the one receiving this webhook).'),
  url: z.string().describe('Its URL.'),
  failingSince: timestamp.optional().describe('Start of its continuous failure.'),
  reason: z
    .enum(['gone', 'continuous_failure'])
    .optional()
    .describe('Why it was disabled: it answered 410 Gone, or it failed continuously for too long.'),
});

/** The body of every `endpoint.*` webhook (exported as JSON Schema `webhook.endpoint.v1`). */
export const endpointWebhookSchema = z
  .strictObject({
    type: z.enum(endpointWebhookTypes).describe('The event type.'),
    timestamp: timestamp.describe('When the endpoint changed state.'),
    data: endpointData.describe('The endpoint and its state.'),
  })
  .describe(
    'An endpoint of the controller started failing, was disabled or recovered: sent to its other healthy endpoints subscribed to the type.',
  );
export type EndpointWebhook = z.infer<typeof endpointWebhookSchema>;

/** The body of one event type's webhook: its `type` (and for a message its `status`) fixed. */
export function webhookPayloadSchema(type: WebhookEventType): z.ZodType {
  if (type.startsWith('message.'))
    return messageWebhookSchema.extend({
      type: z.literal(type).describe('The event type.'),
      data: messageData.extend({
        status: z.literal(statusOfWebhookType(type as MessageWebhookType)).describe('The message status.'),
      }),
    });
  return endpointWebhookSchema.extend({ type: z.literal(type).describe('The event type.') });
}

/** What each event type announces, for the guide and the OpenAPI `webhooks` section. */
export const webhookEventSummaries: Readonly<Record<WebhookEventType, string>> = {
  'message.accepted': 'The router accepted the request (valid, consented, within the instruction).',
  'message.queued': 'A carrier accepted the message for sending (its id and segments known).',
  'message.sent': 'The carrier reports it sent the message to the network.',
  'message.delivered': 'The carrier’s delivery receipt says the handset got it (final).',
  'message.undelivered': 'The carrier’s receipt says it could not be delivered (final).',
  'message.failed': 'It could not be sent, or the carrier reports it failed (final).',
  'message.rejected':
    'The request was refused: invalid, unknown controller, outside the instruction (final).',
  'message.suppressed': 'Not sent: the recipient opted out or restricted processing (final).',
  'message.expired': 'Not sent: its `validUntil` passed first (final).',
  'endpoint.failing': 'Another endpoint of yours started failing (its first failed attempt).',
  'endpoint.disabled': 'Another endpoint of yours was disabled (410 Gone, or failing continuously too long).',
  'endpoint.recovered': 'Another endpoint of yours that was failing or disabled accepted a delivery again.',
};
