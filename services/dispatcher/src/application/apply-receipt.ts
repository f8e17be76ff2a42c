import {
  type Cell,
  encodeJson,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import type { SubprocessorRegistry } from '@massivesms/privacy';
import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import type { ReceiptMapping, ReceiptUpdate } from '../domain/receipts.ts';
import { applyStatus } from '../domain/state-machine.ts';
import type { CarrierName, DispatchRow } from './ports.ts';
import { carrierOptOutEvent, receiptProcessingEvent, sendProcessingEvent } from './send-events.ts';
import type { SendsInFlight } from './sends-in-flight.ts';
import { statusRecord } from './status-events.ts';

export interface ReceiptDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly store: PgDispatchStore;
  readonly now: () => Date;
  /** Where each carrier processes (transfer mechanisms); default: the DPA's registry. */
  readonly subprocessors?: SubprocessorRegistry;
  /** This process's sends in flight: a receipt that overtook its send's answer waits for it. */
  readonly inFlight?: SendsInFlight;
}

/** How long a receipt waits for its message's send outcome to be stored (carriers wait 2 s at most). */
const SEND_OUTCOME_WAIT_MS = 1_000;

/** A verified carrier receipt, already mapped to our statuses. */
export interface VerifiedReceipt {
  readonly carrier: CarrierName;
  readonly controllerId: string;
  readonly messageId: string;
  readonly carrierMessageId: string;
  /** Telnyx event id; Twilio `MessageSid:MessageStatus:ErrorCode:RawDlrDoneDate`. */
  readonly dedupeKey: string;
  readonly mapping: ReceiptMapping;
}

export type ReceiptResult = 'applied' | 'duplicate' | 'ignored' | 'unknown_message' | 'carrier_mismatch';

/**
 * Applies one receipt: once (dedupe key), monotonically (a late `sent` never overwrites
 * `delivered`), and also when it arrives before the send response stored the carrier's id (our
 * message id is in the callback URL). A stop at the carrier adds the recipient to the suppression list.
 * The status change and its events (status, opt-out, the `receipt` processing event) are stored in one
 * statement, so a crash after it loses nothing: the replayed receipt finds the change made and announced.
 */
export async function applyReceipt(deps: ReceiptDeps, receipt: VerifiedReceipt): Promise<ReceiptResult> {
  // The carrier has the message, so its answer is here or about to be: store that first.
  await deps.inFlight?.settled(receipt.controllerId, receipt.messageId, SEND_OUTCOME_WAIT_MS);
  const now = deps.now();
  // The row as this process last stored it (usually the send outcome, moments ago) spares the
  // lookup when the receipt changes it: that change is conditional on the row's statusSeq and
  // records the dedupe key, and a replayed receipt can never change a row again (statuses only move
  // forward). Anything else (nothing to change, a mismatch, a lost race) is decided on the stored row.
  const recent = deps.store.recent.get(receipt.controllerId, receipt.messageId);
  if (recent) {
    const quick = await change(deps, receipt, recent, now);
    if (quick === 'applied' || quick === 'id_recorded') return quick === 'applied' ? 'applied' : 'ignored';
  }
  const first = await deps.store.forReceipt(receipt.controllerId, receipt.messageId, receipt.dedupeKey);
  if (first.seen) return 'duplicate';
  let result: ReceiptResult = 'ignored';
  for (let tries = 0; tries < 3; tries++) {
    // The first pass uses the row read with the dedupe check; a lost race re-reads it.
    const row = tries === 0 ? first.row : await deps.store.get(receipt.controllerId, receipt.messageId);
    if (!row) return 'unknown_message'; // not ours (or not yet claimed): nothing to change
    const outcome = await change(deps, receipt, row, now);
    if (outcome === 'lost_race') continue; // a concurrent receipt or the send response got there first
    // A change recorded the receipt's dedupe key in the same statement.
    if (outcome === 'applied') return 'applied';
    if (outcome === 'id_recorded') return 'ignored';
    result = outcome;
    break;
  }
  await deps.store.firstReceipt(receipt.dedupeKey, now);
  return result;
}

/**
 * Offers the receipt to `row`: `applied` (status changed), `id_recorded` (status unchanged, the
 * carrier's id stored), `lost_race` (the row changed meanwhile), or why nothing changed.
 */
async function change(
  deps: ReceiptDeps,
  receipt: VerifiedReceipt,
  row: DispatchRow,
  now: Date,
): Promise<'applied' | 'id_recorded' | 'lost_race' | 'ignored' | 'carrier_mismatch'> {
  if (
    row.carrier !== receipt.carrier ||
    (row.carrierMessageId && row.carrierMessageId !== receipt.carrierMessageId)
  )
    return 'carrier_mismatch';
  if (receipt.mapping.kind === 'ignore') return 'ignored';
  const update = receipt.mapping;
  const suppress = update.suppress === true;
  const verdict = applyStatus(row, update.status);
  const missingId = row.carrierMessageId === null;
  if (verdict.ignored && !missingId) return 'ignored';
  const next = verdict.ignored ? row.status : verdict.next;
  const updated = await deps.store.advance(
    row,
    {
      status: next,
      carrierMessageId: receipt.carrierMessageId,
      ...(verdict.ignored ? {} : { errorCode: update.errorCode ?? null, reason: update.reason ?? null }),
    },
    now,
    (changed): OutgoingRecord[] => [
      // What the carrier told us about the subject's message is itself an operation (DPA §5).
      receiptProcessingEvent(deps, changed, receipt, reported(update, verdict.ignored), now),
      ...(verdict.ignored
        ? []
        : [
            statusRecord(deps, changed, now),
            ...(suppress
              ? [
                  optOut(deps, changed, receipt.carrier, now),
                  carrierOptOutEvent(
                    deps,
                    changed,
                    receipt.carrier,
                    `${receipt.carrier}.receipt`,
                    receipt.dedupeKey,
                    now,
                  ),
                ]
              : []),
            // The carrier has the message, but its answer was never stored (the dispatcher died
            // or its statement failed after the call): the receipt is what records the attempt.
            ...(unconfirmed(row) ? [sendProcessingEvent(deps, row, row, 'performed', undefined, now)] : []),
          ]),
    ],
    receipt.dedupeKey,
  );
  if (!updated) return 'lost_race';
  return verdict.ignored ? 'id_recorded' : 'applied';
}

/** The `receipt` event's reason: what the carrier reported (ids and codes only, never its free text). */
function reported(mapping: ReceiptUpdate, statusUnchanged: boolean): string {
  const what = `reported ${mapping.status}${mapping.errorCode ? ` (${mapping.errorCode})` : ''}`;
  return statusUnchanged ? `${what}; status unchanged, carrier id recorded` : what;
}

/**
 * A row whose carrier acceptance was never recorded (`sending`, or `unknown` after the sweep): its
 * `send` event was never written. The event has the id the send path would have given it, so when
 * the send path did write it (a receipt racing the response), this is the same event again.
 */
function unconfirmed(row: DispatchRow): boolean {
  return row.status === 'sending' || row.status === 'unknown';
}

function optOut(deps: ReceiptDeps, row: DispatchRow, carrier: CarrierName, now: Date): OutgoingRecord {
  const event = {
    controllerId: row.controllerId,
    subjectPseudonym: row.recipientPseudonym,
    kind: 'opt_out' as const,
    active: true,
    source: `${carrier}.receipt`,
    occurredAt: now.toISOString(),
  };
  return {
    topic: topicFor(deps.cell, 'suppressions.v1', deps.namespace),
    key: suppressionKey(event),
    value: encodeJson(suppressionEventSchema, event),
  };
}
