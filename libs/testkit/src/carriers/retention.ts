// Bounding what a simulator keeps, for long runs (a demo sending 100,000 messages) whose memory must
// stay flat. With `retainMessages: N` a simulator keeps the newest N accepted messages — ledger entry,
// lookup (`GET` by id) and receipt delivery records, dropped together — plus any older one whose receipt
// sequence is still running, dropped when it finishes: a receipt is never lost to the window and a
// message can be looked up until its last receipt is out. Inbound deliveries: the newest N. Every
// drop is O(1). Counts (`ledger.size`, `/__admin/counts`) stay totals. Without the option nothing is
// dropped: tests need the whole ledger as the "sent exactly once" witness.

import type { DeliveryRecord } from './http.ts';
import type { LedgerEntry } from './ledger.ts';

/**
 * Items in arrival order. Without `forgetting`, `items` is one live array, as a plain array would be.
 * With it, any item can be dropped in O(1) (a Set keeps the order); `items` is then rebuilt on the
 * next read, so a caller holding an older `items` holds a snapshot.
 */
export class RetainedList<T> {
  readonly #kept: Set<T> | undefined;
  /** The current array; undefined after a drop until read (so a dropped item is not held by it). */
  #items: T[] | undefined = [];

  /** `forgetting`: whether `forget` may drop items. */
  constructor(forgetting: boolean) {
    this.#kept = forgetting ? new Set() : undefined;
  }

  /** The kept items, oldest first. */
  get items(): readonly T[] {
    this.#items ??= [...(this.#kept ?? [])];
    return this.#items;
  }

  /** How many items are kept. */
  get size(): number {
    return this.#kept ? this.#kept.size : (this.#items?.length ?? 0);
  }

  /** Appends an item. */
  add(item: T): void {
    this.#kept?.add(item);
    this.#items?.push(item);
  }

  /** Drops an item (only when forgetting; otherwise nothing happens). */
  forget(item: T): void {
    if (this.#kept?.delete(item)) this.#items = undefined;
  }

  /** Drops every item; the live array is emptied in place, as before windows existed. */
  clear(): void {
    this.#kept?.clear();
    if (this.#items) this.#items.length = 0;
    else this.#items = [];
  }
}

/** A first-in first-out queue with amortised O(1) `shift` (Array#shift is O(n) on a large array). */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** How many items are queued. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Queues an item at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Takes the item at the front. */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Copy the rest out once half the array is spent: each copy is paid for by the shifts before it.
    if (this.#head >= 1_024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** What a windowed simulator keeps of one accepted message; all of it is dropped at once. */
export interface RetainedMessage {
  readonly id: string;
  readonly entry: LedgerEntry;
  /** Delivery records of its receipts, added as each delivery starts. */
  readonly records: DeliveryRecord[];
  /** Its receipt sequence is still running (it must stay: lookups, and the records being written). */
  receiptsRunning: boolean;
  /** Newer messages pushed it out of the window while its receipts ran: drop it when they end. */
  due: boolean;
}

/** The stores a window drops from. */
export interface RetentionStores {
  readonly ledger: { forget(entry: LedgerEntry): void };
  readonly deliveries: { forget(record: DeliveryRecord): void };
  /** The simulator's messages by carrier id, which answer lookups and feed the receipts. */
  readonly messages: Map<string, unknown>;
}

/** Keeps the newest `limit` accepted messages (and inbound deliveries) of one simulator; see the file header. */
export class MessageWindow {
  readonly #limit: number;
  readonly #stores: RetentionStores;
  readonly #newest = new Fifo<RetainedMessage>();
  readonly #inbound = new Fifo<DeliveryRecord>();

  /** Throws a RangeError unless `limit` is a positive integer. */
  constructor(limit: number, stores: RetentionStores) {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`retainMessages must be a positive integer, got ${limit}`);
    this.#limit = limit;
    this.#stores = stores;
  }

  /** Takes in a message just accepted (its receipts about to start); drops the oldest beyond the window. */
  admit(id: string, entry: LedgerEntry): RetainedMessage {
    const message: RetainedMessage = { id, entry, records: [], receiptsRunning: true, due: false };
    this.#newest.push(message);
    while (this.#newest.size > this.#limit) {
      const old = this.#newest.shift()!;
      if (old.receiptsRunning) old.due = true;
      else this.#drop(old);
    }
    return message;
  }

  /** Marks a message's receipt sequence finished (or abandoned); drops it if it already left the window. */
  receiptsEnded(message: RetainedMessage): void {
    message.receiptsRunning = false;
    if (message.due) this.#drop(message);
  }

  /** Keeps a finished inbound delivery's record; drops the oldest beyond the window. */
  inboundEnded(record: DeliveryRecord): void {
    this.#inbound.push(record);
    while (this.#inbound.size > this.#limit) this.#stores.deliveries.forget(this.#inbound.shift()!);
  }

  #drop(message: RetainedMessage): void {
    this.#stores.messages.delete(message.id);
    this.#stores.ledger.forget(message.entry);
    for (const record of message.records) this.#stores.deliveries.forget(record);
  }
}
