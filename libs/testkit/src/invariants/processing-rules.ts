// Which processing events (`{cell}.audit.processing.v1`) a state change calls for (DPA: every
// operation on personal data is logged). One small table, so a new operation is one more entry.
// Each rule turns facts of the run (requests answered, carrier acceptances, webhooks delivered) into
// expectations: some event must satisfy each, and a fact that happens once must not appear under two
// event ids (a republished copy carries the same id).
import type { ProcessingEvent } from '@massivesms/contracts';
import type { RunFacts } from './run.ts';

/** One event a fact of the run calls for. */
export interface ProcessingExpectation {
  readonly controllerId: string;
  readonly messageId: string;
  /** The fact, in words, for the report (ids only). */
  readonly what: string;
  /** Whether an event (of this message) is one this fact calls for. */
  readonly satisfiedBy: (event: ProcessingEvent) => boolean;
  /** How many distinct events must satisfy it (one per attempt); default 1. */
  readonly atLeast?: number;
  /**
   * Events that record a fact which happens at most `limit` times: more distinct event ids among
   * them mean one event was republished under a new id.
   */
  readonly once?: { readonly matches: (event: ProcessingEvent) => boolean; readonly limit: number };
}

/** A rule of the table: its name (used in violations) and how it derives expectations. */
export interface ProcessingRule {
  readonly name: string;
  readonly description: string;
  expectations(facts: RunFacts): Iterable<ProcessingExpectation>;
}

/** The router decided a request (dispatched, suppressed, expired or rejected): one `route` event. */
export const routeRule: ProcessingRule = {
  name: 'route',
  description: 'every request the router answered has exactly one `route` event (router)',
  *expectations(facts) {
    for (const { controllerId, messageId } of facts.answeredRequests) {
      const isRoute = (e: ProcessingEvent) => e.service === 'router' && e.operation === 'route';
      yield {
        controllerId,
        messageId,
        what: 'the routing decision',
        satisfiedBy: isRoute,
        once: { matches: isRoute, limit: 1 },
      };
    }
  },
};

/**
 * A carrier accepted a message: a `send` event (dispatcher) naming that carrier as subprocessor,
 * per acceptance. When the dispatcher died between the carrier's answer and recording it, the
 * sweeper's `send.reconcile` event naming the carrier is the record of that attempt instead.
 */
export const sendRule: ProcessingRule = {
  name: 'send',
  description:
    'every carrier acceptance has a `send` (or, for an interrupted send, `send.reconcile`) event naming the carrier; one `performed` send per acceptance',
  *expectations(facts) {
    const groups = Map.groupBy(facts.sends, (s) => `${s.controllerId}\u001f${s.messageId}\u001f${s.carrier}`);
    for (const sends of groups.values()) {
      const { controllerId, messageId, carrier } = sends[0]!;
      const fromDispatcher = (e: ProcessingEvent) => e.service === 'dispatcher' && e.subprocessor === carrier;
      yield {
        controllerId,
        messageId,
        what: `the send ${carrier} accepted${sends.length > 1 ? ` (${sends.length} times)` : ''}`,
        satisfiedBy: (e) => fromDispatcher(e) && (e.operation === 'send' || e.operation === 'send.reconcile'),
        atLeast: sends.length,
        once: {
          matches: (e) => fromDispatcher(e) && e.operation === 'send' && e.outcome === 'performed',
          limit: sends.length,
        },
      };
    }
  },
};

/**
 * A webhook was delivered: one `webhook.deliver` event (webhooks) with outcome `performed`. The
 * event names the endpoint and the event type only in its reason today
 * (`message.delivered to endpoint ep_1: HTTP 200`), so that is what is matched.
 */
export const webhookDeliverRule: ProcessingRule = {
  name: 'webhook.deliver',
  description: 'every webhook delivered (2xx) has exactly one `performed` `webhook.deliver` event (webhooks)',
  *expectations(facts) {
    // Grouped: the event names no statusSeq, so two status changes with one event type (itself a
    // violation elsewhere) are two deliveries that look alike here.
    const groups = Map.groupBy(
      facts.deliveredWebhooks,
      (w) => `${w.endpointId}\u001f${w.controllerId}\u001f${w.messageId}\u001f${w.eventType}`,
    );
    for (const deliveries of groups.values()) {
      const w = deliveries[0]!;
      const prefix = `${w.eventType} to endpoint ${w.endpointId}`;
      const isDelivery = (e: ProcessingEvent) =>
        e.service === 'webhooks' &&
        e.operation === 'webhook.deliver' &&
        e.outcome === 'performed' &&
        e.reason !== undefined &&
        (e.reason === prefix || e.reason.startsWith(`${prefix}:`));
      yield {
        controllerId: w.controllerId,
        messageId: w.messageId,
        what: `the delivery of ${w.eventType} to endpoint ${w.endpointId}`,
        satisfiedBy: isDelivery,
        atLeast: deliveries.length,
        once: { matches: isDelivery, limit: deliveries.length },
      };
    }
  },
};

/** The rules the checker applies unless told otherwise. */
export const processingRules: readonly ProcessingRule[] = Object.freeze([
  routeRule,
  sendRule,
  webhookDeliverRule,
]);
