import {
  type Cell,
  encodeJson,
  eventIdFor,
  type ProcessingEvent,
  processingEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import type { SubprocessorRegistry } from '@massivesms/privacy';
import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import { applyStatus } from '../domain/state-machine.ts';
import type { CarrierName, CarrierPort, DispatchRow } from './ports.ts';
import { transferMechanismOf } from './send-events.ts';
import { statusRecord } from './status-events.ts';

export interface ReconcileDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly store: PgDispatchStore;
  readonly now: () => Date;
  /** Asked about accepted messages whose final receipt is late. */
  readonly carriers: Readonly<Record<CarrierName, Pick<CarrierPort, 'lookup'>>>;
  /** A lookup that failed (the carrier could not answer): the message is asked again next sweep. */
  readonly onLookupError?: (error: unknown) => void;
  /** Where each carrier processes (a lookup's transfer mechanism); default: the DPA's registry. */
  readonly subprocessors?: SubprocessorRegistry | undefined;
}

/** When each kind of message without a terminal status is reconciled, and how. */
export interface ReconcilePolicy {
  /** A `sending` row older than this had its process die mid-call: its outcome is unknown. */
  readonly sendingTimeoutMs: number;
  /** An `unknown` row with no receipt after this is closed as failed — never resent. */
  readonly quarantineMs: number;
  /** A `queued`/`sent` message with no final receipt after this is looked up at its carrier. */
  readonly receiptDeadlineMs: number;
  /** How often one such message is asked about again while the carrier still holds it. */
  readonly recheckMs: number;
  /**
   * A `queued`/`sent` message still without a final status after this is closed as `undelivered`
   * with CARRIER_DELIVERY_UNCONFIRMED (it may have been delivered; nobody confirmed it).
   */
  readonly finaliseAfterMs: number;
  /** How often the sweep runs. */
  readonly sweepEveryMs: number;
}

/**
 * Defaults: Telnyx queues up to ~4 h behind rate limits and Twilio keeps trying for up to its 10 h
 * validity period, so receipts can be late: unknown outcomes wait 6 h, missing final receipts are
 * asked for after 1 h (then every 30 min) and given up on after 24 h.
 */
export const defaultReconcilePolicy: ReconcilePolicy = {
  sendingTimeoutMs: 10 * 60_000,
  quarantineMs: 6 * 3_600_000,
  receiptDeadlineMs: 3_600_000,
  recheckMs: 30 * 60_000,
  finaliseAfterMs: 24 * 3_600_000,
  sweepEveryMs: 60_000,
};

/**
 * A complete policy from the four deadlines an operator sets: a late message is asked about again
 * every half receipt deadline (at most every 30 min), and the sweep runs often enough for the
 * shortest deadline (every half of it, between 1 s and 1 min).
 */
export function reconcilePolicy(
  deadlines: Pick<
    ReconcilePolicy,
    'sendingTimeoutMs' | 'quarantineMs' | 'receiptDeadlineMs' | 'finaliseAfterMs'
  >,
): ReconcilePolicy {
  const shortest = Math.min(deadlines.sendingTimeoutMs, deadlines.quarantineMs, deadlines.receiptDeadlineMs);
  return {
    ...deadlines,
    recheckMs: Math.min(30 * 60_000, deadlines.receiptDeadlineMs / 2),
    sweepEveryMs: Math.min(60_000, Math.max(1_000, shortest / 2)),
  };
}

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
  return closed + (await confirmWithCarriers(deps, policy, now));
}

/**
 * Accepted messages whose final receipt is late: asks their carrier (lost webhooks happen) and
 * applies what it says through the state machine; past `finaliseAfterMs` with still nothing final,
 * closes them as undelivered-unconfirmed. Every lookup is a processing event (the carrier answers
 * with the message record).
 */
async function confirmWithCarriers(deps: ReconcileDeps, policy: ReconcilePolicy, now: Date): Promise<number> {
  const late = await deps.store.unconfirmed(
    new Date(now.getTime() - policy.receiptDeadlineMs),
    new Date(now.getTime() - policy.recheckMs),
  );
  let closed = 0;
  for (const row of late) {
    if (!row.carrierMessageId) continue; // queued always carries the carrier's id
    let answer: Awaited<ReturnType<CarrierPort['lookup']>>;
    try {
      answer = await deps.carriers[row.carrier].lookup(row.carrierMessageId);
    } catch (error) {
      deps.onLookupError?.(error);
      continue;
    }
    const asked = lookupEvent(deps, row, answer.kind === 'not_found' ? 'not_found' : 'performed', now);
    const told = answer.kind === 'status' ? applyStatus(row, answer.status) : undefined;
    let next: Parameters<PgDispatchStore['advance']>[1] | undefined;
    if (told && !told.ignored && answer.kind === 'status')
      next = {
        status: told.next,
        ...(answer.errorCode ? { errorCode: answer.errorCode } : {}),
        ...(answer.reason ? { reason: answer.reason } : {}),
      };
    else if (now.getTime() - policy.finaliseAfterMs > row.updatedAt.getTime())
      next = {
        status: 'undelivered',
        errorCode: 'CARRIER_DELIVERY_UNCONFIRMED',
        reason: 'no final receipt and the carrier could not confirm delivery (it may have been delivered)',
      };
    const updated = next
      ? await deps.store.advance(row, next, now, (changed) => [statusRecord(deps, changed, now), asked])
      : undefined;
    if (updated) {
      if (updated.status !== 'queued' && updated.status !== 'sent') closed++;
    } else await deps.store.markChecked(row, now, [asked]);
  }
  return closed;
}

/** The processing event of one carrier lookup (operation `send.lookup`). */
function lookupEvent(
  deps: ReconcileDeps,
  row: DispatchRow,
  outcome: 'performed' | 'not_found',
  now: Date,
): OutgoingRecord {
  const transfer = transferMechanismOf(deps, row.carrier);
  const event: ProcessingEvent = {
    eventId: eventIdFor('dispatcher', 'send.lookup', row.controllerId, row.messageId, now.toISOString()),
    occurredAt: now.toISOString(),
    service: 'dispatcher',
    operation: 'send.lookup',
    controllerId: row.controllerId,
    messageId: row.messageId,
    subjectPseudonym: row.recipientPseudonym,
    dataCategories: ['user.contact.phone_number'],
    instruction: row.instruction,
    region: deps.cell,
    subprocessor: row.carrier,
    ...(transfer ? { transferMechanism: transfer } : {}),
    outcome: outcome === 'performed' ? 'performed' : 'failed',
    ...(outcome === 'not_found' ? { reason: 'CARRIER_MESSAGE_NOT_FOUND' } : {}),
  };
  return {
    topic: topicFor(deps.cell, 'audit.processing.v1', deps.namespace),
    key: row.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: { region: deps.cell, controller: row.controllerId, schema: 'audit.processing.v1' },
  };
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
