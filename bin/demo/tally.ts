import {
  type Cell,
  cells,
  type MessageStatus,
  messageStatuses,
  rejectionSchema,
  statusEventSchema,
  terminalStatuses,
} from '@massivesms/contracts';
import type { IncomingRecord } from '@massivesms/messaging';

/** What the demo knows about one message, folded from its status and processing events. */
interface MessageState {
  /** Bit i set: the message reached messageStatuses[i] (a republished status counts once). */
  seen: number;
  carrier?: string;
  /** A Telnyx call for it failed (the breaker refused it, or Telnyx answered an error). */
  telnyxFailed?: boolean;
  /** A carrier call for it ended without an answer (ambiguous: reconciled, never resent). */
  ambiguous?: boolean;
}

/** One cell's counts, each kept up to date as its records arrive. */
export class CellTally {
  readonly #messages = new Map<string, MessageState>();
  readonly statuses = Object.fromEntries(messageStatuses.map((s) => [s, 0])) as Record<MessageStatus, number>;
  /** Accepted messages whose carrier call has ended (any status after `accepted`). */
  dispatched = 0;
  /** Accepted messages that have a terminal status. */
  finished = 0;
  /** Messages accepted by each carrier. */
  readonly sent: Record<string, number> = {};
  /** Final statuses of known controllers' messages (each is owed one webhook per subscribed endpoint). */
  finalStatuses = 0;
  /** Rejections by code, and those whose controller is known (so it is told by webhook). */
  readonly rejected: Record<string, number> = {};
  rejectedKnownController = 0;
  /** `audit.export` processing events (an export downloaded from the control API). */
  auditExports = 0;
  /** Distinct processing events produced (what the ledger must hold). */
  readonly #auditEvents = new Set<string>();

  get auditEvents(): number {
    return this.#auditEvents.size;
  }

  status(key: string, status: MessageStatus, carrier: string | undefined, knownController: boolean): void {
    const m = this.#of(key);
    if (carrier && m.carrier === undefined) {
      m.carrier = carrier;
      this.sent[carrier] = (this.sent[carrier] ?? 0) + 1;
    }
    const bit = 1 << messageStatuses.indexOf(status);
    if (m.seen & bit) return;
    // Either order: a status may be folded before the `accepted` that preceded it.
    const before = stage(m.seen);
    m.seen |= bit;
    const after = stage(m.seen);
    this.statuses[status]++;
    if (terminalStatuses.has(status) && knownController) this.finalStatuses++;
    if (after.dispatched && !before.dispatched) this.dispatched++;
    if (after.finished && !before.finished) this.finished++;
  }

  /**
   * What became of the messages, in one pass at the end: the router's verdict (accepted, suppressed,
   * expired; rejections come from their own topic) and, for the accepted ones, their terminal status.
   */
  outcomes(): Outcomes {
    const o: Outcomes = {
      accepted: 0,
      suppressed: 0,
      expired: 0,
      delivered: 0,
      undelivered: 0,
      failed: 0,
      stoppedAtDispatch: 0,
      unfinished: 0,
      failovers: 0,
      ambiguous: 0,
    };
    const has = (m: MessageState, s: MessageStatus) => (m.seen & (1 << messageStatuses.indexOf(s))) !== 0;
    for (const m of this.#messages.values()) {
      if (m.telnyxFailed && m.carrier === 'twilio') o.failovers++;
      if (m.ambiguous) o.ambiguous++;
      if (!has(m, 'accepted')) {
        if (has(m, 'suppressed')) o.suppressed++;
        else if (has(m, 'expired')) o.expired++;
        continue;
      }
      o.accepted++;
      if (has(m, 'delivered')) o.delivered++;
      else if (has(m, 'undelivered')) o.undelivered++;
      else if (has(m, 'failed')) o.failed++;
      else if ((m.seen & TERMINAL) !== 0) o.stoppedAtDispatch++;
      else o.unfinished++;
    }
    return o;
  }

  processing(event: ProcessingEvent): void {
    if (this.#auditEvents.has(event.eventId)) return;
    this.#auditEvents.add(event.eventId);
    if (event.operation === 'audit.export') this.auditExports++;
    if (event.operation !== 'send' || event.outcome !== 'failed' || !event.messageId) return;
    const m = this.#of(`${event.controllerId}:${event.messageId}`);
    if (event.subprocessor === 'telnyx') m.telnyxFailed = true;
    if (event.reason === 'CARRIER_RESPONSE_TIMEOUT') m.ambiguous = true;
  }

  rejection(code: string, knownController: boolean): void {
    this.rejected[code] = (this.rejected[code] ?? 0) + 1;
    if (knownController) this.rejectedKnownController++;
  }

  #of(key: string): MessageState {
    let m = this.#messages.get(key);
    if (!m) {
      m = { seen: 0 };
      this.#messages.set(key, m);
    }
    return m;
  }
}

const bitOf = (statuses: readonly MessageStatus[]) =>
  statuses.reduce((bits, s) => bits | (1 << messageStatuses.indexOf(s)), 0);
const ACCEPTED = bitOf(['accepted']);
const AFTER_ACCEPTED = bitOf(messageStatuses.filter((s) => s !== 'accepted'));
const TERMINAL = bitOf([...terminalStatuses]);
const stage = (seen: number) => ({
  dispatched: (seen & ACCEPTED) !== 0 && (seen & AFTER_ACCEPTED) !== 0,
  finished: (seen & ACCEPTED) !== 0 && (seen & TERMINAL) !== 0,
});

/** The fate of a cell's messages (see CellTally.outcomes). */
export interface Outcomes {
  accepted: number;
  suppressed: number;
  expired: number;
  delivered: number;
  undelivered: number;
  failed: number;
  /** Accepted, then stopped by the dispatcher before any carrier (expired or suppressed meanwhile). */
  stoppedAtDispatch: number;
  /** Accepted without a terminal status yet (0 once the demo has waited for them). */
  unfinished: number;
  /** Sent via Twilio after a Telnyx call for it failed. */
  failovers: number;
  /** Carrier calls that ended without an answer: reconciled from the receipt, never resent. */
  ambiguous: number;
}

interface ProcessingEvent {
  eventId: string;
  operation: string;
  subprocessor?: string;
  outcome: string;
  controllerId: string;
  messageId?: string;
  reason?: string;
}

/**
 * The demo's view of the pipeline, per cell, kept up to date as records arrive (never re-read):
 * statuses (what was accepted, sent through which carrier, finished), rejections and processing
 * events. Each record is folded once, so counting costs the same at 100 messages as at 100,000.
 */
export class DemoTally {
  readonly cells: Record<Cell, CellTally> = Object.fromEntries(
    cells.map((c) => [c, new CellTally()]),
  ) as Record<Cell, CellTally>;
  /** Records folded so far: the demo's measure of progress. */
  seen = 0;
  readonly #knownControllers: ReadonlySet<string>;

  constructor(knownControllers: readonly string[]) {
    this.#knownControllers = new Set(knownControllers);
  }

  /** Records of `{cell}.sms.status.v1`. */
  addStatuses(records: readonly IncomingRecord[]): void {
    for (const r of records) {
      this.seen++;
      const s = statusEventSchema.parse(JSON.parse(r.value!.toString()));
      this.cells[s.region].status(
        `${s.controllerId}:${s.messageId}`,
        s.status,
        s.carrierMessageId ? s.carrier : undefined,
        this.#knownControllers.has(s.controllerId),
      );
    }
  }

  /** Records of `{cell}.sms.rejected.v1`. */
  addRejections(records: readonly IncomingRecord[]): void {
    for (const r of records) {
      this.seen++;
      const rejection = rejectionSchema.parse(JSON.parse(r.value!.toString()));
      this.cells[rejection.region].rejection(
        rejection.code,
        rejection.controllerId !== undefined && this.#knownControllers.has(rejection.controllerId),
      );
    }
  }

  /** Records of `{cell}.audit.processing.v1`. */
  addProcessing(cell: Cell, records: readonly IncomingRecord[]): void {
    for (const r of records) {
      this.seen++;
      this.cells[cell].processing(JSON.parse(r.value!.toString()) as ProcessingEvent);
    }
  }

  /** The sum over cells of a count. */
  total(count: (c: CellTally) => number): number {
    return cells.reduce((n, c) => n + count(this.cells[c]), 0);
  }
}
