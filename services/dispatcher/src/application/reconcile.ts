import {
  type Cell,
  encodeJson,
  eventIdFor,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import type { DispatchRow } from './ports.ts';
import { statusRecord } from './status-events.ts';

export interface ReconcileDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly store: PgDispatchStore;
  readonly now: () => Date;
}

/** How long an ambiguous outcome waits for a receipt, and how long a `sending` row may stay so. */
export interface ReconcilePolicy {
  /** A `sending` row older than this had its process die mid-call: its outcome is unknown. */
  readonly sendingTimeoutMs: number;
  /** An `unknown` row with no receipt after this is closed as failed — never resent. */
  readonly quarantineMs: number;
}

/** Defaults: Telnyx queues up to ~4 h behind rate limits, so receipts can be late; wait 6 h. */
export const defaultReconcilePolicy: ReconcilePolicy = {
  sendingTimeoutMs: 10 * 60_000,
  quarantineMs: 6 * 3_600_000,
};

/**
 * The explicit policy for outcomes nobody told us (DESIGN.md §5.1): a message stuck in `sending`
 * becomes `unknown` (the carrier may have it: never resend); an `unknown` one whose quarantine passed
 * without a receipt is closed as `failed` with DISPATCH_OUTCOME_UNKNOWN. Both are audited.
 */
export async function reconcileStale(
  deps: ReconcileDeps,
  policy: ReconcilePolicy = defaultReconcilePolicy,
): Promise<number> {
  const now = deps.now();
  const stale = await deps.store.stale(
    new Date(now.getTime() - policy.sendingTimeoutMs),
    new Date(now.getTime() - policy.quarantineMs),
  );
  let closed = 0;
  for (const row of stale) {
    const next =
      row.status === 'sending'
        ? {
            status: 'unknown' as const,
            errorCode: 'DISPATCH_SEND_INTERRUPTED',
            reason: 'the send was interrupted; the carrier may have the message, so it is not resent',
          }
        : {
            status: 'failed' as const,
            errorCode: 'DISPATCH_OUTCOME_UNKNOWN',
            reason: 'no receipt within the quarantine window; not resent, to avoid a double send',
          };
    // The change and its announcement are one statement; a receipt that got there first wins.
    const updated = await deps.store.advance(row, next, now, (changed) => [
      statusRecord(deps, changed, now),
      audit(deps, changed, next.errorCode, now),
    ]);
    if (updated) closed++;
  }
  return closed;
}

function audit(deps: ReconcileDeps, row: DispatchRow, reason: string, now: Date): OutgoingRecord {
  const event: ProcessingEvent = {
    eventId: eventIdFor('dispatcher', 'send.reconcile', row.controllerId, row.messageId, row.statusSeq),
    occurredAt: now.toISOString(),
    service: 'dispatcher',
    operation: 'send.reconcile',
    controllerId: row.controllerId,
    messageId: row.messageId,
    subjectPseudonym: row.recipientPseudonym,
    dataCategories: [],
    instruction: row.instruction,
    region: deps.cell,
    subprocessor: row.carrier,
    outcome: 'failed',
    reason,
  };
  return {
    topic: topicFor(deps.cell, 'audit.processing.v1', deps.namespace),
    key: row.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: { region: deps.cell, controller: row.controllerId, schema: 'audit.processing.v1' },
  };
}
