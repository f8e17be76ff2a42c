import { randomUUID } from 'node:crypto';
import {
  type Cell,
  type ControllerState,
  controllerStateSchema,
  type EndpointState,
  encodeJson,
  endpointStateSchema,
  newTraceparent,
  processingEventSchema,
  topicFor,
  type WebhookCommand,
  webhookCommandSchema,
} from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { writeOutbox } from '@massivesms/outbox';
import { traceHeaders } from '@massivesms/telemetry';
import type { ControlEvents } from '../application/ports.ts';

/** The outbox the control plane's events go through (migration 0002). */
export const CONTROL_OUTBOX = 'control_outbox';

/**
 * Control-plane state for the cell's compacted topics and processing events for the audit topic,
 * stored in the outbox inside the transaction that makes the change; `wrote` wakes the relay.
 */
export function outboxControlEvents(
  cell: Cell,
  namespace = '',
  now = () => new Date(),
  wrote: () => void = () => {},
): ControlEvents {
  // The API request's trace when tracing is on (the event continues it), else a trace of its own.
  const headers = (schema: string) => ({
    region: cell,
    schema,
    traceparent: newTraceparent(),
    ...traceHeaders(),
  });
  return {
    controller(state: ControllerState): OutgoingRecord {
      return {
        topic: topicFor(cell, 'controllers.v1', namespace),
        key: state.controllerId,
        value: encodeJson(controllerStateSchema, state),
        headers: { ...headers('controllers.v1'), controller: state.controllerId },
      };
    },
    controllerRemoved(controllerId: string): OutgoingRecord {
      // A tombstone: compaction then drops every earlier value, wrapped keys included.
      return {
        topic: topicFor(cell, 'controllers.v1', namespace),
        key: controllerId,
        value: null,
        headers: { ...headers('controllers.v1'), controller: controllerId },
      };
    },
    endpoint(endpointId: string, state: EndpointState | null): OutgoingRecord {
      return {
        topic: topicFor(cell, 'endpoints.v1', namespace),
        key: endpointId,
        value: state === null ? null : encodeJson(endpointStateSchema, state),
        headers: headers('endpoints.v1'),
      };
    },
    processing(event): OutgoingRecord {
      const full = {
        ...event,
        // Made once and stored with the change: a republished copy carries the same id.
        eventId: randomUUID(),
        occurredAt: now().toISOString(),
        service: 'control' as const,
        region: cell,
      };
      return {
        topic: topicFor(cell, 'audit.processing.v1', namespace),
        key: event.controllerId,
        value: encodeJson(processingEventSchema, full),
        headers: { ...headers('audit.processing.v1'), controller: event.controllerId },
      };
    },
    webhookCommand(command: WebhookCommand): OutgoingRecord {
      // Keyed by controller: one controller's commands are carried out in the order they were given.
      return {
        topic: topicFor(cell, 'webhooks.commands.v1', namespace),
        key: command.controllerId,
        value: encodeJson(webhookCommandSchema, command),
        headers: { ...headers('webhooks.commands.v1'), controller: command.controllerId },
      };
    },
    async announce(tx: DbTx, records: readonly OutgoingRecord[]) {
      await writeOutbox(tx, CONTROL_OUTBOX, records);
    },
    committed: wrote,
  };
}
