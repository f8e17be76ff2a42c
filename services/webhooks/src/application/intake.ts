import type { EndpointState, StatusEvent } from '@massivesms/contracts';
import { type ControllerKeys, decryptField, encryptField, toControllerId } from '@massivesms/privacy';
import type { NewDelivery, PgDeliveryStore } from '../adapters/pg-delivery-store.ts';
import { eventTypeOf, messageWebhookBody, statusChangeKey, webhookIdFor } from '../domain/payload.ts';

export interface IntakeDeps {
  readonly store: PgDeliveryStore;
  readonly endpoints: { subscribed(controllerId: string, eventType: string): EndpointState[] };
  readonly keys: (controllerId: string) => Promise<ControllerKeys | undefined>;
  readonly isDisabled: (endpointId: string, revision: number) => boolean;
  readonly now: () => Date;
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
 * Returns how many deliveries are new.
 */
export async function intakeStatuses(deps: IntakeDeps, events: readonly StatusEvent[]): Promise<number> {
  const now = deps.now();
  const deliveries: NewDelivery[] = [];
  for (const event of events) {
    const targets = deps.endpoints
      .subscribed(event.controllerId, eventTypeOf(event.status))
      .filter((e) => !deps.isDisabled(e.endpointId, e.revision));
    if (targets.length === 0) continue;
    // No keys: the controller was terminated (crypto-shredded); there is nobody to tell.
    const keys = await deps.keys(event.controllerId);
    if (!keys) continue;
    const to = event.recipient
      ? decryptField(keys.dataKey, event.recipient, {
          controllerId: toControllerId(event.controllerId),
          recordId: event.messageId,
          field: 'to',
        })
      : undefined;
    const body = messageWebhookBody(event, to, now);
    for (const endpoint of targets) {
      const webhookId = webhookIdFor(statusChangeKey(event), endpoint.endpointId);
      deliveries.push({
        webhookId,
        endpointId: endpoint.endpointId,
        controllerId: event.controllerId,
        messageId: event.messageId,
        eventType: eventTypeOf(event.status),
        body: encryptField(keys.dataKey, body, bodyContext(event.controllerId, webhookId)),
      });
    }
  }
  return deps.store.insert(deliveries, now);
}
