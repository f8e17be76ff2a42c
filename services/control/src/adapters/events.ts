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
} from '@massivesms/contracts';
import type { BusProducer } from '@massivesms/messaging';
import type { ControlEvents } from '../application/ports.ts';

/** Publishes control-plane state to the cell's compacted topics and processing events to the audit topic. */
export function busControlEvents(
  producer: BusProducer,
  cell: Cell,
  namespace = '',
  now = () => new Date(),
): ControlEvents {
  const headers = (schema: string) => ({ region: cell, schema, traceparent: newTraceparent() });
  return {
    async controller(state: ControllerState) {
      await producer.send([
        {
          topic: topicFor(cell, 'controllers.v1', namespace),
          key: state.controllerId,
          value: encodeJson(controllerStateSchema, state),
          headers: { ...headers('controllers.v1'), controller: state.controllerId },
        },
      ]);
    },
    async endpoint(endpointId: string, state: EndpointState | null) {
      await producer.send([
        {
          topic: topicFor(cell, 'endpoints.v1', namespace),
          key: endpointId,
          value: state === null ? null : encodeJson(endpointStateSchema, state),
          headers: headers('endpoints.v1'),
        },
      ]);
    },
    async processing(event) {
      const full = {
        ...event,
        eventId: randomUUID(),
        occurredAt: now().toISOString(),
        service: 'control' as const,
        region: cell,
      };
      await producer.send([
        {
          topic: topicFor(cell, 'audit.processing.v1', namespace),
          key: event.controllerId,
          value: encodeJson(processingEventSchema, full),
          headers: { ...headers('audit.processing.v1'), controller: event.controllerId },
        },
      ]);
    },
  };
}
