import {
  decodeJsonOrThrow,
  type EndpointState,
  type MessageStatus,
  messageStatuses,
  type StatusEvent,
  statusEventSchema,
} from '@massivesms/contracts';
import {
  type DecodedRecord,
  describeCause,
  type FailedRecord,
  isRetryable,
  RecordFailedError,
} from '@massivesms/messaging';
import { type ControllerKeys, decryptField, encryptField, toControllerId } from '@massivesms/privacy';
import { tracingEnabled } from '@massivesms/telemetry';
import type { DeliveryToStore, PgDeliveryStore } from '../adapters/pg-delivery-store.ts';
import { eventTypeOf, messageWebhookBody, statusChangeKey, webhookIdFor } from '../domain/payload.ts';
import { peekJsonString } from '../domain/peek.ts';

export interface IntakeDeps {
  readonly store: PgDeliveryStore;
  readonly endpoints: { subscribed(controllerId: string, eventType: string): EndpointState[] };
  readonly keys: (controllerId: string) => Promise<ControllerKeys | undefined>;
  readonly isDisabled: (endpointId: string, revision: number) => boolean;
  readonly now: () => Date;
}

/** What one intake did: deliveries stored, and the statuses it could not process (with why). */
export interface IntakeResult {
  readonly added: number;
  readonly failed: FailedRecord[];
}

const known: ReadonlySet<string> = new Set(messageStatuses);

/**
 * Decodes a status record, unless no endpoint subscribes to it: most statuses of a message (accepted,
 * queued, sent…) have no subscriber, and then the record is passed over (undefined) without being
 * parsed or validated. Controller and status are peeked from the bytes (peekJsonString); a record
 * whose fields cannot be read with certainty is decoded in full, and an undecodable one throws (it
 * goes to the dead-letter topic). A record nobody subscribes to is not this service's to judge: one
 * that would not decode is left to the topic's other consumers rather than dead-lettered here.
 */
export function decodeStatusRecord(
  subscribed: (controllerId: string, eventType: string) => boolean,
  value: Buffer | null,
): StatusEvent | undefined {
  if (value) {
    const controllerId = peekJsonString(value, 'controllerId');
    const status = peekJsonString(value, 'status');
    if (
      controllerId !== undefined &&
      status !== undefined &&
      known.has(status) &&
      !subscribed(controllerId, eventTypeOf(status as MessageStatus))
    )
      return undefined;
  }
  return decodeJsonOrThrow(statusEventSchema, value);
}

/** Where a delivery body is sealed: bound to its webhook-id so it cannot be swapped with another. */
export const bodyContext = (controllerId: string, webhookId: string) => ({
  controllerId: toControllerId(controllerId),
  recordId: webhookId,
  field: 'webhook.body',
});

/**
 * One batch of status events → one delivery per (event, subscribed endpoint), stored in one
 * statement before the consumer commits the batch's offsets. A redelivered batch, or a status
 * republished with a new event id, derives the same webhook-ids, so nothing is stored twice.
 *
 * A status that cannot be processed does not hold up the others: its controller's keys not
 * available (the key service down or refusing: retryable) or a recipient that does not decrypt
 * (permanent) is reported in `failed`, for the consumer to retry or dead-letter. A failure to
 * store throws, and the whole batch is retried.
 */
export async function intakeStatuses(
  deps: IntakeDeps,
  records: readonly DecodedRecord<StatusEvent>[],
): Promise<IntakeResult> {
  const now = deps.now();
  const deliveries: DeliveryToStore[] = [];
  const failed: FailedRecord[] = [];
  for (const record of records) {
    try {
      // While tracing is on, each delivery keeps the status's trace context for its attempts.
      const traceparent = tracingEnabled() ? record.headers.traceparent : undefined;
      const made = await deliveriesFor(deps, record.message, now);
      deliveries.push(...(traceparent ? made.map((d) => ({ ...d, traceContext: traceparent })) : made));
    } catch (error) {
      failed.push({ record, error });
    }
  }
  return { added: await deps.store.insert(deliveries, now), failed };
}

/** The deliveries of one status; throws a RecordFailedError when it cannot be processed. */
async function deliveriesFor(deps: IntakeDeps, event: StatusEvent, now: Date): Promise<DeliveryToStore[]> {
  const targets = deps.endpoints.subscribed(event.controllerId, eventTypeOf(event.status));
  if (targets.length === 0) return [];
  let keys: ControllerKeys | undefined;
  try {
    keys = await deps.keys(event.controllerId);
  } catch (cause) {
    throw new RecordFailedError(
      'PRIVACY_KEYS_UNAVAILABLE',
      `keys of controller ${event.controllerId} are not available (${describeCause(cause)})`,
      { retryable: isRetryable(cause), cause },
    );
  }
  // No keys: the controller was terminated (crypto-shredded); there is nobody to tell.
  if (!keys) return [];
  let to: string | undefined;
  try {
    to = event.recipient
      ? decryptField(keys.dataKey, event.recipient, {
          controllerId: toControllerId(event.controllerId),
          recordId: event.messageId,
          field: 'to',
        })
      : undefined;
  } catch (cause) {
    // The same bytes under the same key fail the same way on every attempt.
    throw RecordFailedError.nonRetryable(
      'PRIVACY_DECRYPT_FAILED',
      `the recipient of message ${event.messageId} (controller ${event.controllerId}) does not decrypt (${describeCause(cause)})`,
      { field: 'recipient', cause },
    );
  }
  const body = messageWebhookBody(event, to, now);
  return targets.map((endpoint) => {
    const webhookId = webhookIdFor(statusChangeKey(event), endpoint.endpointId);
    return {
      webhookId,
      endpointId: endpoint.endpointId,
      controllerId: event.controllerId,
      messageId: event.messageId,
      eventType: eventTypeOf(event.status),
      body: encryptField(keys.dataKey, body, bodyContext(event.controllerId, webhookId)),
      // An endpoint this service disabled still gets its deliveries stored (dead, not attempted):
      // recovering the endpoint resends them; dropping them would lose these statuses for good.
      ...(deps.isDisabled(endpoint.endpointId, endpoint.revision) ? { held: 'endpoint disabled' } : {}),
    };
  });
}
