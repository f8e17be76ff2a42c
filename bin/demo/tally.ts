import { type Cell, type StatusEvent, statusEventSchema, terminalStatuses } from '@massivesms/contracts';
import type { IncomingRecord } from '@massivesms/messaging';

/**
 * The demo's view of the status topics, kept up to date as records arrive (never re-read): which
 * accepted messages still have no terminal status, what each message was sent through, and which
 * final status changes are owed a webhook. A republished status (same statusSeq) counts once.
 */
export class StatusTally {
  /** Status records seen so far: the demo's measure of progress. */
  seen = 0;
  readonly #accepted = new Map<Cell, Set<string>>();
  readonly #terminal = new Map<string, StatusEvent['status']>();
  readonly #queued = new Map<Cell, Set<string>>();
  readonly #carrierOf = new Map<string, string>();
  readonly #finalChanges = new Set<string>();
  readonly #counts = new Map<StatusEvent['status'], Set<string>>();
  readonly #webhookStatuses: ReadonlySet<string>;
  readonly #knownControllers: ReadonlySet<string>;

  /** `webhookStatuses`: the statuses the endpoints subscribe to; only known controllers have one. */
  constructor(webhookStatuses: readonly string[], knownControllers: readonly string[]) {
    this.#webhookStatuses = new Set(webhookStatuses);
    this.#knownControllers = new Set(knownControllers);
  }

  add(records: readonly IncomingRecord[]): void {
    for (const r of records) {
      this.seen++;
      const s = statusEventSchema.parse(JSON.parse(r.value!.toString()));
      const cell = s.region;
      const key = `${s.controllerId}:${s.messageId}`;
      this.#of(this.#counts, s.status).add(key);
      if (s.status === 'accepted') this.#of(this.#accepted, cell).add(key);
      if (s.status === 'queued') this.#of(this.#queued, cell).add(key);
      if (s.carrier && s.carrierMessageId) this.#carrierOf.set(key, s.carrier);
      if (terminalStatuses.has(s.status)) this.#terminal.set(key, s.status);
      if (this.#webhookStatuses.has(s.status) && this.#knownControllers.has(s.controllerId))
        this.#finalChanges.add(`${key}:${s.statusSeq}:${s.status}`);
    }
  }

  /** Accepted messages of `cell` (all cells when omitted). */
  accepted(cell?: Cell): number {
    return this.#sum(this.#accepted, cell);
  }

  /** Messages of `cell` a carrier accepted with a `queued` status. */
  queued(cell: Cell): number {
    return this.#sum(this.#queued, cell);
  }

  /** Accepted messages that have no terminal status yet. */
  unfinished(): number {
    let n = 0;
    for (const set of this.#accepted.values()) for (const key of set) if (!this.#terminal.has(key)) n++;
    return n;
  }

  /** Messages that reached `status`. */
  count(status: StatusEvent['status']): number {
    return this.#counts.get(status)?.size ?? 0;
  }

  /** The carrier that accepted a message, if one did. */
  carrierOf(controllerId: string, messageId: string): string | undefined {
    return this.#carrierOf.get(`${controllerId}:${messageId}`);
  }

  /** Messages per carrier that accepted them. */
  sentPerCarrier(): Record<string, number> {
    const sent: Record<string, number> = {};
    for (const carrier of this.#carrierOf.values()) sent[carrier] = (sent[carrier] ?? 0) + 1;
    return sent;
  }

  /** Status changes the endpoints subscribe to: one webhook each. */
  webhooksOwed(): number {
    return this.#finalChanges.size;
  }

  #of<K>(map: Map<K, Set<string>>, key: K): Set<string> {
    let set = map.get(key);
    if (!set) {
      set = new Set();
      map.set(key, set);
    }
    return set;
  }

  #sum(map: Map<Cell, Set<string>>, cell?: Cell): number {
    if (cell) return map.get(cell)?.size ?? 0;
    let n = 0;
    for (const set of map.values()) n += set.size;
    return n;
  }
}
