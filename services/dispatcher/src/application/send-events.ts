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
import { traceHeaders } from '@massivesms/telemetry';
import type { DispatchRow } from './ports.ts';

const PERSONAL = ['user.contact.phone_number', 'user.content.private'];

/** Where the events go and which registry says where each carrier processes. */
export interface EventSite {
  readonly cell: Cell;
  readonly namespace: string;
  readonly subprocessors?: SubprocessorRegistry | undefined;
}

/** The message an attempt was for: what its processing event names (ids and pseudonyms only). */
export type SendSubject = Pick<
  DispatchRow,
  'controllerId' | 'messageId' | 'recipientPseudonym' | 'instruction' | 'purpose'
>;

/** DPA §7: the safeguard(s) when `carrier` processes outside the controller's home region; else none. */
export function transferMechanismOf(where: EventSite, carrier: string): string | undefined {
  const entry = findSubprocessor(carrier, where.subprocessors ?? SUBPROCESSORS);
  return entry && processesOutsideRegion(entry, where.cell) ? entry.transferMechanisms.join('; ') : undefined;
}

/** A dispatcher processing event about one message, as the record its outbox stores. */
function messageEvent(
  where: EventSite,
  subject: SendSubject,
  event: Pick<ProcessingEvent, 'eventId' | 'operation' | 'dataCategories' | 'outcome' | 'reason'> & {
    readonly subprocessor?: string | undefined;
  },
  now: Date,
): OutgoingRecord {
  const transfer = event.subprocessor ? transferMechanismOf(where, event.subprocessor) : undefined;
  const value: ProcessingEvent = {
    eventId: event.eventId,
    occurredAt: now.toISOString(),
    service: 'dispatcher',
    operation: event.operation,
    controllerId: subject.controllerId,
    messageId: subject.messageId,
    subjectPseudonym: subject.recipientPseudonym,
    dataCategories: event.dataCategories,
    ...(subject.purpose ? { purpose: subject.purpose } : {}),
    instruction: subject.instruction,
    region: where.cell,
    // The subprocessor actually involved (DPA §6), with the transfer's safeguard when there is one.
    ...(event.subprocessor ? { subprocessor: event.subprocessor } : {}),
    ...(transfer ? { transferMechanism: transfer } : {}),
    outcome: event.outcome,
    ...(event.reason ? { reason: event.reason } : {}),
  };
  return {
    topic: topicFor(where.cell, 'audit.processing.v1', where.namespace),
    key: subject.controllerId,
    value: encodeJson(processingEventSchema, value),
    headers: {
      region: where.cell,
      controller: subject.controllerId,
      schema: 'audit.processing.v1',
      ...traceHeaders(),
    },
  };
}

/**
 * The processing event (`send`) of one attempt: `attempt` names the carrier and the attempt number,
 * which with the outcome make its id, so the send path and a receipt that confirms the same attempt
 * write the same event. `sent: false` is a claimed message closed before any carrier saw it (no
 * subprocessor).
 */
export function sendProcessingEvent(
  where: EventSite,
  subject: SendSubject,
  attempt: Pick<DispatchRow, 'carrier' | 'attempt'>,
  outcome: ProcessingEvent['outcome'],
  reason: string | undefined,
  now: Date,
  sent = true,
): OutgoingRecord {
  const carrier = attempt.carrier;
  return messageEvent(
    where,
    subject,
    {
      eventId: eventIdFor(
        'dispatcher',
        'send',
        subject.controllerId,
        subject.messageId,
        attempt.attempt,
        sent ? carrier : '',
        outcome,
      ),
      operation: 'send',
      dataCategories: sent ? PERSONAL : ['user.contact.phone_number'],
      ...(sent ? { subprocessor: carrier } : {}),
      outcome,
      reason,
    },
    now,
  );
}

/**
 * A `performed` event of what a carrier told us about the subject's message; `occurrence` identifies
 * the carrier's answer, so the same answer is the same event.
 */
function carrierReportEvent(
  where: EventSite,
  subject: SendSubject,
  operation: string,
  carrier: string,
  occurrence: readonly (string | number)[],
  reason: string,
  now: Date,
): OutgoingRecord {
  return messageEvent(
    where,
    subject,
    {
      eventId: eventIdFor('dispatcher', operation, subject.controllerId, subject.messageId, ...occurrence),
      operation,
      dataCategories: ['user.contact.phone_number'],
      subprocessor: carrier,
      outcome: 'performed',
      reason,
    },
    now,
  );
}

/**
 * The processing event (`receipt`) of a carrier's delivery receipt applied to a message (its status
 * moved, or the carrier's id was recorded). Its id is the receipt's own (the carrier's event id, or
 * Twilio's sid, status and error code), so the same receipt is the same event.
 */
export function receiptProcessingEvent(
  where: EventSite,
  subject: SendSubject,
  receipt: { readonly carrier: string; readonly dedupeKey: string },
  reason: string,
  now: Date,
): OutgoingRecord {
  return carrierReportEvent(where, subject, 'receipt', receipt.carrier, [receipt.dedupeKey], reason, now);
}

/**
 * The processing event (`carrier.opt_out`) of a carrier saying the recipient opted out (a send
 * refused, or a receipt, with the carrier's opt-out code): the subject goes on the controller's
 * suppression list. `source` is the suppression's source (`telnyx.send`, `twilio.receipt`) and
 * `occurrence` what identifies the carrier's answer (the attempt, or the receipt's dedupe key).
 */
export function carrierOptOutEvent(
  where: EventSite,
  subject: SendSubject,
  carrier: string,
  source: string,
  occurrence: string | number,
  now: Date,
): OutgoingRecord {
  const reason = `suppressed: opt_out (${source})`;
  return carrierReportEvent(where, subject, 'carrier.opt_out', carrier, [source, occurrence], reason, now);
}
