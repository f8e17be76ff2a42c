// The send state machine (DESIGN.md §4, §5.1):
//
//   sending ──► queued (carrier id) ──► sent ──► delivered | undelivered | failed
//      │  └──────────────► failed (class D, never left us)
//      ├──► unknown (class C: ambiguous, under reconciliation, never terminal)
//      │         └──► queued | sent | delivered | undelivered | failed (a receipt or lookup reconciles it)
//      └──► expired (validUntil passed before the carrier call: never sent)
//
// Statuses come from two racing sources, the send response and the carrier's receipts, and receipts
// are duplicated, delayed and out of order. So the machine is monotonic: a status only moves
// forward, a terminal status never changes (the first terminal wins: "exactly one terminal
// status"), and whatever arrives late is ignored with a stable code instead of overwriting.
// Forward jumps are allowed (sending → delivered): a receipt can beat the send response home.
//
// An ignored status is only about the status: a late `queued` from the send response still carries
// the carrier's message id, which the caller must record.

import type { MessageStatus } from '@massivesms/contracts';

/** Statuses of a message inside the dispatcher; `sending` is the claim made before the carrier call. */
export const sendStatuses = [
  'sending',
  'queued',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'unknown',
  'expired',
] as const;

/** One of the dispatcher's statuses. */
export type SendStatus = (typeof sendStatuses)[number];

// Every status but the internal `sending` is published on sms.status.v1: fail to compile if the
// contract drops one of them.
type Published = Exclude<SendStatus, 'sending'>;
const _published: Published extends MessageStatus ? true : never = true;
void _published;

/** The part of a message's record the machine needs. */
export interface StatusState {
  readonly status: SendStatus;
  /** Monotonic per message; +1 on every applied change (consumers ignore a lower sequence). */
  readonly statusSeq: number;
}

/** Why an incoming status was not applied. Stable: logged and counted. */
export type IgnoreCode =
  | 'STATUS_DUPLICATE'
  | 'STATUS_TERMINAL'
  | 'STATUS_STALE'
  | 'STATUS_OUTCOME_KNOWN'
  | 'STATUS_NO_RESEND';

/** The result of offering one status to a message. */
export type ApplyResult =
  | { readonly ignored: false; readonly next: SendStatus; readonly statusSeq: number }
  | { readonly ignored: true; readonly code: IgnoreCode; readonly reason: string };

const terminal: ReadonlySet<SendStatus> = new Set<SendStatus>([
  'delivered',
  'undelivered',
  'failed',
  'expired',
]);

// Position on the forward path; `unknown` and `expired` sit beside it (see applyStatus).
const rank: Readonly<Record<Exclude<SendStatus, 'unknown'>, number>> = {
  sending: 0,
  queued: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
  expired: 3,
};

/** Whether a message in this status can never change again. */
export function isTerminal(status: SendStatus): boolean {
  return terminal.has(status);
}

/** Whether a value read from storage or the wire is one of our statuses. */
export function isSendStatus(value: unknown): value is SendStatus {
  return typeof value === 'string' && (sendStatuses as readonly string[]).includes(value);
}

function ignore(code: IgnoreCode, reason: string): ApplyResult {
  return { ignored: true, code, reason };
}

/** Offers `incoming` to a message: the next status and sequence, or why it is ignored. */
export function applyStatus(current: StatusState, incoming: SendStatus): ApplyResult {
  // Bad input here is a bug in the caller (storage has a CHECK constraint), not a receipt to skip.
  if (!isSendStatus(current.status)) throw new TypeError(`not a send status: ${String(current.status)}`);
  if (!isSendStatus(incoming)) throw new TypeError(`not a send status: ${String(incoming)}`);
  if (!Number.isSafeInteger(current.statusSeq) || current.statusSeq < 0) {
    throw new RangeError(`statusSeq must be a non-negative integer, got ${current.statusSeq}`);
  }
  const from = current.status;
  const apply: ApplyResult = { ignored: false, next: incoming, statusSeq: current.statusSeq + 1 };

  if (incoming === from) return ignore('STATUS_DUPLICATE', `already ${from}`);
  if (terminal.has(from))
    return ignore('STATUS_TERMINAL', `${from} is terminal; ${incoming} arrived after it`);
  // Only the claim creates `sending`; going back to it would mean sending again (a duplicate SMS).
  if (incoming === 'sending') return ignore('STATUS_NO_RESEND', `${from} cannot go back to sending`);
  if (incoming === 'unknown') {
    // Once the carrier gave us an id (queued or later) the outcome is no longer ambiguous.
    return from === 'sending'
      ? apply
      : ignore('STATUS_OUTCOME_KNOWN', `${from}: the carrier accepted it, the outcome is not ambiguous`);
  }
  // Expiry is decided before the carrier call only: once anything may have been sent, it is not.
  if (incoming === 'expired')
    return from === 'sending'
      ? apply
      : ignore('STATUS_OUTCOME_KNOWN', `${from}: the message may have been sent, it cannot expire`);
  // `unknown` is not a point on the path: any carrier-reported status reconciles it.
  if (from === 'unknown') return apply;
  return rank[incoming] > rank[from] ? apply : ignore('STATUS_STALE', `${incoming} is older than ${from}`);
}
