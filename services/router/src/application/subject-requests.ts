import {
  type Cell,
  type PrivacyRequest,
  type PrivacyResult,
  privacyAckRecords,
  privacyExportContext,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  ControllerKeysDestroyedError,
  ControllerKeysNotFoundError,
  encryptField,
  toControllerId,
} from '@massivesms/privacy';
import type { ControllerDirectory } from './ports.ts';

/** A suppression of one subject as the router holds it (pseudonymous: no number). */
export interface SubjectSuppression {
  readonly kind: string;
  readonly active: boolean;
  readonly source: string;
  readonly updatedAt: string;
}

/** The router's rows about one subject, inside one transaction. */
export interface SubjectRowsTx {
  suppressions(controllerId: string, pseudonym: string): Promise<SubjectSuppression[]>;
  /** Records a restriction or objection (latest occurrence wins, as for suppressions.v1). */
  suppress(
    controllerId: string,
    pseudonym: string,
    kind: 'restriction' | 'objection',
    at: Date,
  ): Promise<void>;
  /** Deletes the controller's message ledger (a termination); answers rows deleted per table. */
  eraseController(controllerId: string): Promise<Record<string, number>>;
  /** Stores the acknowledgement and its processing event in the outbox, with the change. */
  announce(records: readonly OutgoingRecord[]): Promise<void>;
}

export type SubjectRowsStore = <T>(fn: (tx: SubjectRowsTx) => Promise<T>) => Promise<T>;

export interface SubjectRequestDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly directory: ControllerDirectory;
  readonly store: SubjectRowsStore;
  readonly now: () => Date;
}

/**
 * What the router keeps through an erasure, and why. Its message ledger holds no reference to the
 * subject (ids and outcomes only) and is what stops a replayed request from being sent twice.
 */
const SUPPRESSIONS_KEPT =
  'router_suppressions: opt-outs, restrictions and objections by pseudonym, so the subject is never messaged again';
const RETAINED = [
  SUPPRESSIONS_KEPT,
  'router_messages: message ids and routing outcomes with no number or pseudonym, so a replayed request is never routed twice',
];

/**
 * One data-subject request, as the router answers it: access exports the subject's suppressions;
 * restriction and objection suppress the subject's new messages from now on (SMS_SUPPRESSED_<KIND>);
 * erasure finds nothing to erase (see RETAINED); a termination deletes the controller's message
 * ledger and keeps its suppressions. The change and the acknowledgement commit together.
 */
export async function answerSubjectRequest(deps: SubjectRequestDeps, request: PrivacyRequest): Promise<void> {
  const now = deps.now();
  const where = { cell: deps.cell, namespace: deps.namespace };
  if (request.region !== deps.cell) {
    await deps.store((tx) =>
      tx.announce(
        privacyAckRecords(where, 'router', request, { outcome: 'failed', reason: 'wrong region' }, now),
      ),
    );
    return;
  }
  if (request.type === 'termination') {
    await deps.store(async (tx) => {
      const erased = await tx.eraseController(request.controllerId);
      const result: PrivacyResult = { outcome: 'done', erased, retained: [SUPPRESSIONS_KEPT] };
      await tx.announce(privacyAckRecords(where, 'router', request, result, now));
    });
    return;
  }
  let keys: ControllerKeys | undefined;
  if (request.type === 'access') {
    try {
      keys = await deps.directory.keys(request.controllerId);
    } catch (error) {
      // Unknown or shredded controller: no retry helps; anything else (KMS down) is retried.
      if (!(error instanceof ControllerKeysNotFoundError || error instanceof ControllerKeysDestroyedError))
        throw error;
      const result = { outcome: 'failed', reason: "the controller's keys are not available" } as const;
      await deps.store((tx) => tx.announce(privacyAckRecords(where, 'router', request, result, now)));
      return;
    }
  }
  await deps.store(async (tx) => {
    let result: PrivacyResult;
    switch (request.type) {
      case 'access': {
        const part = {
          suppressions: await tx.suppressions(request.controllerId, request.subjectPseudonym),
        };
        const context = privacyExportContext(request.controllerId, request.requestId, 'router');
        result = {
          outcome: 'done',
          export: encryptField(keys!.dataKey, JSON.stringify(part), {
            ...context,
            controllerId: toControllerId(context.controllerId),
          }),
        };
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
      case 'erasure':
        result = { outcome: 'done', erased: {}, retained: RETAINED };
        break;
    }
    await tx.announce(privacyAckRecords(where, 'router', request, result, now));
  });
}
