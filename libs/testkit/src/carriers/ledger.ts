// What a simulator accepted, so tests can prove "sent exactly once" from the carrier's side: the
// dispatcher's own bookkeeping cannot be the witness of its own duplicates.

import { RetainedList } from './retention.ts';

/** One message a simulator accepted (including those whose response was withheld or cut). */
export interface LedgerEntry {
  readonly carrier: 'telnyx' | 'twilio';
  readonly carrierMessageId: string;
  readonly to: string;
  /** The sender as requested; for Twilio with a messaging service, the `MessagingServiceSid`. */
  readonly from: string;
  readonly text: string;
  /** `webhook_url` (Telnyx) or `StatusCallback` (Twilio), if given. */
  readonly callbackUrl: string | undefined;
  readonly acceptedAt: Date;
  /** How the send request ended for the client: answered, never answered, or socket destroyed. */
  readonly response: 'answered' | 'withheld' | 'reset';
  /** Every request field as received (e.g. Twilio `Attempt`, Telnyx `messaging_profile_id`). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * The accepted messages of one simulator, in acceptance order. `size` counts every accepted message;
 * `entries` and the queries below see the kept ones: all of them, unless the simulator was started
 * with `retainMessages` (then the newest N, see retention.ts).
 */
export class Ledger {
  readonly #entries: RetainedList<LedgerEntry>;
  #accepted = 0;

  /** `forgetting`: for the simulators, whether `forget` may drop entries (a windowed simulator). */
  constructor(options: { forgetting?: boolean } = {}) {
    this.#entries = new RetainedList(options.forgetting === true);
  }

  /** The kept accepted messages, oldest first. Read it again after more sends: once an entry was dropped, a new array. */
  get entries(): readonly LedgerEntry[] {
    return this.#entries.items;
  }

  /** How many messages were accepted (since start or `clear`), kept or not. */
  get size(): number {
    return this.#accepted;
  }

  /** How many entries are kept (`size` unless entries were dropped). */
  get retained(): number {
    return this.#entries.size;
  }

  /** For the simulators: records an accepted message. */
  record(entry: LedgerEntry): void {
    this.#accepted++;
    this.#entries.add(entry);
  }

  /** For the simulators: drops an entry that left the window; `size` still counts it. */
  forget(entry: LedgerEntry): void {
    this.#entries.forget(entry);
  }

  /** Counts the kept messages matching a predicate. */
  countFor(predicate: (entry: LedgerEntry) => boolean): number {
    return this.entries.filter(predicate).length;
  }

  /** The kept messages matching a predicate. */
  filter(predicate: (entry: LedgerEntry) => boolean): LedgerEntry[] {
    return this.entries.filter(predicate);
  }

  /** The first kept message matching a predicate. */
  find(predicate: (entry: LedgerEntry) => boolean): LedgerEntry | undefined {
    return this.entries.find(predicate);
  }

  /** Counts sends whose callback URL has `id` as a path segment: our message id travels there (`…/receipts/telnyx/<messageId>`). */
  countForCallbackId(id: string): number {
    return this.countFor((e) => callbackPathSegments(e.callbackUrl).includes(id));
  }

  /** The kept messages whose callback URL has `id` as a path segment. */
  forCallbackId(id: string): LedgerEntry[] {
    return this.filter((e) => callbackPathSegments(e.callbackUrl).includes(id));
  }

  /** Forgets every entry and resets `size` (between test cases that share a simulator). */
  clear(): void {
    this.#entries.clear();
    this.#accepted = 0;
  }
}

function callbackPathSegments(url: string | undefined): string[] {
  if (!url) return [];
  try {
    return new URL(url).pathname.split('/').map((s) => decodeURIComponent(s));
  } catch {
    return [];
  }
}
