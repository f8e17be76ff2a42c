import {
  type Cell,
  type ControllerState,
  encodeJson,
  eventIdFor,
  processingEventSchema,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import { type ControllerKeys, isE164, pseudonymise, type SubprocessorRegistry } from '@massivesms/privacy';
import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import { HELP_TEXT, inboundKeyword } from '../domain/keywords.ts';
import type { CarrierName, CarrierPort } from './ports.ts';
import { transferMechanismOf } from './send-events.ts';

export interface InboundDeps {
  readonly cell: Cell;
  readonly namespace: string;
  /** Where each carrier processes (transfer mechanisms); default: the DPA's registry. */
  readonly subprocessors?: SubprocessorRegistry | undefined;
  readonly store: PgDispatchStore;
  readonly now: () => Date;
  readonly controllers: {
    values(): Iterable<ControllerState>;
    keys(controllerId: string): Promise<ControllerKeys>;
  };
}

/** A verified inbound message from a recipient to one of our senders. */
export interface InboundMessage {
  readonly carrier: CarrierName;
  /** The carrier's id of the inbound message (Telnyx message id, Twilio MessageSid): same on a retry. */
  readonly inboundId: string;
  readonly from: string;
  readonly to: string;
  readonly text: string;
}

/**
 * STOP or START from a recipient: an opt-out (or its end) for every controller that messaged that
 * recipient from that sender. One global list per controller, fed from both carriers, so a STOP at
 * Telnyx also stops a Twilio fail-over send. HELP changes nothing but is answered (`answerHelp`), so
 * it is audited too. Each is one processing event per such controller, its id derived from the
 * carrier's inbound message id: a carrier retrying the webhook writes the same events again.
 */
export async function handleInbound(deps: InboundDeps, message: InboundMessage): Promise<number> {
  const keyword = inboundKeyword(message.text);
  if (keyword === undefined || !isE164(message.from)) return 0;
  const subjects: { controllerId: string; pseudonym: string }[] = [];
  for (const controller of deps.controllers.values()) {
    const keys = await deps.controllers.keys(controller.controllerId).catch(() => undefined);
    if (keys)
      subjects.push({
        controllerId: controller.controllerId,
        pseudonym: pseudonymise(keys.pseudonymKey, message.from),
      });
  }
  const affected = new Set(await deps.store.controllersThatMessaged(subjects, message.to));
  const now = deps.now().toISOString();
  const operation = `inbound.${keyword === 'stop' ? 'opt_out' : keyword === 'start' ? 'opt_in' : 'help'}`;
  const transfer = transferMechanismOf(deps, message.carrier);
  const out: OutgoingRecord[] = [];
  for (const { controllerId, pseudonym } of subjects.filter((s) => affected.has(s.controllerId))) {
    if (keyword !== 'help') {
      const event = {
        controllerId,
        subjectPseudonym: pseudonym,
        kind: 'opt_out' as const,
        active: keyword === 'stop',
        source: `${message.carrier}.inbound`,
        occurredAt: now,
      };
      out.push({
        topic: topicFor(deps.cell, 'suppressions.v1', deps.namespace),
        key: suppressionKey(event),
        value: encodeJson(suppressionEventSchema, event),
      });
    }
    out.push({
      topic: topicFor(deps.cell, 'audit.processing.v1', deps.namespace),
      key: controllerId,
      value: encodeJson(processingEventSchema, {
        eventId: eventIdFor('dispatcher', operation, controllerId, message.carrier, message.inboundId),
        occurredAt: now,
        service: 'dispatcher',
        operation,
        controllerId,
        subjectPseudonym: pseudonym,
        dataCategories: ['user.contact.phone_number'],
        region: deps.cell,
        subprocessor: message.carrier,
        ...(transfer ? { transferMechanism: transfer } : {}),
        outcome: 'performed',
        ...(keyword === 'help' ? { reason: 'answered with the fixed help text' } : {}),
      }),
    });
  }
  // Stored before the carrier gets its 2xx; the outbox relay publishes them.
  await deps.store.writeEvents(out);
  return affected.size;
}

/**
 * HELP must be answered. Twilio sends the TwiML the ingress returns; Telnyx needs an outbound
 * message from the number that was texted, so it is sent here (no callback: it is not a tracked message).
 */
export async function answerHelp(telnyx: CarrierPort, message: InboundMessage): Promise<boolean> {
  if (message.carrier !== 'telnyx' || inboundKeyword(message.text) !== 'help') return false;
  const outcome = await telnyx.send({ to: message.from, from: message.to, text: HELP_TEXT, attempt: 1 });
  return outcome.accepted;
}
