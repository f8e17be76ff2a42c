import {
  type Cell,
  encodeJson,
  eventIdFor,
  type PrivacyRequest,
  type PrivacyResult,
  privacyAckRecords,
  privacyExportContext,
  type StatusEvent,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  ControllerKeysDestroyedError,
  ControllerKeysNotFoundError,
  encryptField,
  toControllerId,
} from '@massivesms/privacy';

/** A held message of the subject that the erasure removed before any carrier saw it. */
export interface ErasedHeldMessage {
  readonly messageId: string;
  readonly campaignId: string;
  /** Whether a send was claimed for it (then reconciliation closes it; no status from here). */
  readonly claimed: boolean;
}

/** The dispatcher's rows about one subject, inside one transaction. */
export interface DispatcherSubjectTx {
  /** The subject's messages, held messages and suppressions, as plain JSON (numbers never stored). */
  exportOf(controllerId: string, pseudonym: string): Promise<Record<string, unknown>>;
  /**
   * Deletes held messages (they hold the encrypted number and body) and strips the subject from the
   * send ledger (pseudonym, sender, carrier text; the carrier's message id once closed). The ledger
   * rows stay, so a redelivered dispatch record is still never sent twice.
   */
  erase(
    controllerId: string,
    pseudonym: string,
  ): Promise<{ held: ErasedHeldMessage[]; erased: Record<string, number> }>;
  /**
   * Deletes everything about the controller but its suppressions (a termination): held messages, and
   * the send ledger's closed rows; an open row (a carrier outcome still awaited) is stripped like an
   * erased subject's and deleted by a later termination or purge once closed.
   */
  eraseController(
    controllerId: string,
  ): Promise<{ held: ErasedHeldMessage[]; erased: Record<string, number> }>;
  suppress(
    controllerId: string,
    pseudonym: string,
    kind: 'restriction' | 'objection',
    at: Date,
  ): Promise<void>;
  announce(records: readonly OutgoingRecord[]): Promise<void>;
}

export type DispatcherSubjectStore = <T>(fn: (tx: DispatcherSubjectTx) => Promise<T>) => Promise<T>;

export interface DispatcherSubjectDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly keys: (controllerId: string) => Promise<ControllerKeys>;
  readonly store: DispatcherSubjectStore;
  readonly now: () => Date;
}

const RETAINED = [
  'dispatcher_suppressions: opt-outs, restrictions and objections by pseudonym, so the subject is never messaged again',
  'dispatcher_messages: message ids, statuses and carriers without the subject, so no message is ever sent twice',
];

/** Stable code of a held message closed because its recipient was erased. */
export const SUBJECT_ERASED = 'SMS_SUBJECT_ERASED';
/** Stable code of a held message closed because its controller's data was deleted at termination. */
export const CONTROLLER_TERMINATED = 'SMS_CONTROLLER_TERMINATED';

const TERMINATION_RETAINED = [
  RETAINED[0]!,
  'dispatcher_messages: rows of messages still awaiting a carrier outcome, without the subject, until they close',
];

/**
 * One data-subject request as the dispatcher answers it: access exports its rows about the subject;
 * erasure erases them (held messages end `suppressed` with SMS_SUBJECT_ERASED, so every request
 * still has a terminal status); restriction and objection stop sends not yet made. The change, the
 * statuses and the acknowledgement commit together.
 */
export async function answerDispatcherSubjectRequest(
  deps: DispatcherSubjectDeps,
  request: PrivacyRequest,
): Promise<void> {
  const now = deps.now();
  const where = { cell: deps.cell, namespace: deps.namespace };
  const failed = (reason: string) =>
    deps.store((tx) =>
      tx.announce(privacyAckRecords(where, 'dispatcher', request, { outcome: 'failed', reason }, now)),
    );
  if (request.region !== deps.cell) return failed('wrong region');
  if (request.type === 'termination') {
    await deps.store(async (tx) => {
      const { held, erased } = await tx.eraseController(request.controllerId);
      const closed = held
        .filter((h) => !h.claimed)
        .map((m) => heldClosed(deps, request.controllerId, m, now, CONTROLLER_TERMINATED, TERMINATED_REASON));
      const result: PrivacyResult = { outcome: 'done', erased, retained: TERMINATION_RETAINED };
      await tx.announce([...closed, ...privacyAckRecords(where, 'dispatcher', request, result, now)]);
    });
    return;
  }
  let keys: ControllerKeys | undefined;
  if (request.type === 'access') {
    try {
      keys = await deps.keys(request.controllerId);
    } catch (error) {
      if (!(error instanceof ControllerKeysNotFoundError || error instanceof ControllerKeysDestroyedError))
        throw error;
      return failed("the controller's keys are not available");
    }
  }
  await deps.store(async (tx) => {
    let result: PrivacyResult;
    const out: OutgoingRecord[] = [];
    switch (request.type) {
      case 'access': {
        const part = await tx.exportOf(request.controllerId, request.subjectPseudonym);
        const context = privacyExportContext(request.controllerId, request.requestId, 'dispatcher');
        result = {
          outcome: 'done',
          export: encryptField(keys!.dataKey, JSON.stringify(part), {
            ...context,
            controllerId: toControllerId(context.controllerId),
          }),
        };
        break;
      }
      case 'erasure': {
        const { held, erased } = await tx.erase(request.controllerId, request.subjectPseudonym);
        for (const m of held.filter((h) => !h.claimed))
          out.push(heldClosed(deps, request.controllerId, m, now, SUBJECT_ERASED, ERASED_REASON));
        result = { outcome: 'done', erased, retained: RETAINED };
        break;
      }
      case 'restriction':
      case 'objection':
        await tx.suppress(
          request.controllerId,
          request.subjectPseudonym,
          request.type,
          new Date(request.requestedAt),
        );
        result = { outcome: 'done' };
        break;
    }
    await tx.announce([...out, ...privacyAckRecords(where, 'dispatcher', request, result, now)]);
  });
}

const ERASED_REASON = 'the recipient was erased at the controller’s request before the message was sent';
const TERMINATED_REASON = "the controller's data was deleted at termination before the message was sent";

/** The terminal status of a held message deleted before it was claimed (as a refusal: statusSeq 1). */
function heldClosed(
  deps: DispatcherSubjectDeps,
  controllerId: string,
  m: ErasedHeldMessage,
  now: Date,
  errorCode: string,
  reason: string,
): OutgoingRecord {
  const event: StatusEvent = {
    eventId: eventIdFor('sms.status', controllerId, m.messageId, 1),
    messageId: m.messageId,
    controllerId,
    campaignId: m.campaignId,
    region: deps.cell,
    status: 'suppressed',
    statusSeq: 1,
    errorCode,
    reason,
    occurredAt: now.toISOString(),
  };
  return {
    topic: topicFor(deps.cell, 'sms.status.v1', deps.namespace),
    key: `${controllerId}:${m.messageId}`,
    value: encodeJson(statusEventSchema, event),
    headers: { region: deps.cell, controller: controllerId, schema: 'sms.status.v1' },
  };
}
