// What a simulator accepted, so tests can prove "sent exactly once" from the carrier's side: the
// dispatcher's own bookkeeping cannot be the witness of its own duplicates.

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

/** The accepted messages of one simulator, in acceptance order. */
export class Ledger {
  readonly #entries: LedgerEntry[] = [];

  /** Every accepted message, oldest first. */
  get entries(): readonly LedgerEntry[] {
    return this.#entries;
  }

  /** How many messages were accepted. */
  get size(): number {
    return this.#entries.length;
  }

  /** For the simulators: records an accepted message. */
  record(entry: LedgerEntry): void {
    this.#entries.push(entry);
  }

  /** Counts the accepted messages matching a predicate. */
  countFor(predicate: (entry: LedgerEntry) => boolean): number {
    return this.#entries.filter(predicate).length;
  }

  /** The accepted messages matching a predicate. */
  filter(predicate: (entry: LedgerEntry) => boolean): LedgerEntry[] {
    return this.#entries.filter(predicate);
  }

  /** The first accepted message matching a predicate. */
  find(predicate: (entry: LedgerEntry) => boolean): LedgerEntry | undefined {
    return this.#entries.find(predicate);
  }

  /** Counts sends whose callback URL has `id` as a path segment: our message id travels there (`…/receipts/telnyx/<messageId>`). */
  countForCallbackId(id: string): number {
    return this.countFor((e) => callbackPathSegments(e.callbackUrl).includes(id));
  }

  /** The accepted messages whose callback URL has `id` as a path segment. */
  forCallbackId(id: string): LedgerEntry[] {
    return this.filter((e) => callbackPathSegments(e.callbackUrl).includes(id));
  }

  /** Forgets every entry (between test cases that share a simulator). */
  clear(): void {
    this.#entries.length = 0;
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
