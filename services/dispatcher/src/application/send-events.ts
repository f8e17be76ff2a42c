import {
  type Cell,
  encodeJson,
  eventIdFor,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import {
  findSubprocessor,
  processesOutsideRegion,
  SUBPROCESSORS,
  type SubprocessorRegistry,
} from '@massivesms/privacy';
import type { DispatchRow } from './ports.ts';

const PERSONAL = ['user.contact.phone_number', 'user.content.private'];

/** The message an attempt was for: what its processing event names (ids and pseudonyms only). */
export type SendSubject = Pick<
  DispatchRow,
  'controllerId' | 'messageId' | 'recipientPseudonym' | 'instruction' | 'purpose'
>;

/**
 * The processing event (`send`) of one attempt: `attempt` names the carrier and the attempt number,
 * which with the outcome make its id, so the send path and a receipt that confirms the same attempt
 * write the same event. `sent: false` is a claimed message closed before any carrier saw it (no
 * subprocessor).
 */
export function sendProcessingEvent(
  where: {
    readonly cell: Cell;
    readonly namespace: string;
    readonly subprocessors?: SubprocessorRegistry | undefined;
  },
  subject: SendSubject,
  attempt: Pick<DispatchRow, 'carrier' | 'attempt'>,
  outcome: ProcessingEvent['outcome'],
  reason: string | undefined,
  now: Date,
  sent = true,
): OutgoingRecord {
  const carrier = attempt.carrier;
  // DPA §7: an attempt processed outside the controller's home region names its safeguard.
  const entry = findSubprocessor(carrier, where.subprocessors ?? SUBPROCESSORS);
  const transfer =
    sent && entry && processesOutsideRegion(entry, where.cell)
      ? entry.transferMechanisms.join('; ')
      : undefined;
  const event: ProcessingEvent = {
    eventId: eventIdFor(
      'dispatcher',
      'send',
      subject.controllerId,
      subject.messageId,
      attempt.attempt,
      sent ? carrier : '',
      outcome,
    ),
    occurredAt: now.toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId: subject.controllerId,
    messageId: subject.messageId,
    subjectPseudonym: subject.recipientPseudonym,
    dataCategories: sent ? PERSONAL : ['user.contact.phone_number'],
    ...(subject.purpose ? { purpose: subject.purpose } : {}),
    instruction: subject.instruction,
    region: where.cell,
    // The subprocessor actually used for this attempt (DPA §6).
    ...(sent ? { subprocessor: carrier } : {}),
    ...(transfer ? { transferMechanism: transfer } : {}),
    outcome,
    ...(reason ? { reason } : {}),
  };
  return {
    topic: topicFor(where.cell, 'audit.processing.v1', where.namespace),
    key: subject.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: { region: where.cell, controller: subject.controllerId, schema: 'audit.processing.v1' },
  };
}
