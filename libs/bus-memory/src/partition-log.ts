import type { Headers } from '@massivesms/messaging';

/** A record as the bus stores it; its offset is where it sits in its partition's log. */
export interface StoredRecord {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  readonly timestamp: string;
}

/** A stored record with the offset it was given when it was produced. */
export interface LoggedRecord {
  readonly offset: number;
  readonly record: StoredRecord;
}

/**
 * Dropped slots at the head of the array before it is copied down: copying costs O(retained), so it
 * waits until the dropped head is at least as long as what remains (amortised O(1) per record).
 */
const MIN_HEAD_TO_COMPACT = 1_024;

/**
 * One partition's log, like Kafka's: offsets are given at append and never change, and `trimTo`
 * drops a prefix nobody will read again. On a compacted topic the dropped prefix leaves the latest
 * record of each key behind (tombstones included), so a reader from the start still sees every key's
 * state, at its original offset: the offsets then have gaps.
 */
export class PartitionLog {
  readonly #compacted: boolean;
  /**
   * Compacted topics only: what trimming left, the latest record per key. A replaced key is deleted
   * and set again, so the map stays in offset order. Records without a key have no state to keep.
   */
  readonly #kept = new Map<string, LoggedRecord>();
  /** `#kept` as an array for binary search; rebuilt after a trim, and only if someone reads that far back. */
  #keptList: LoggedRecord[] | undefined;
  /** The untrimmed tail: `#records[#head]` has offset `#tailBase`; the slots before `#head` are cleared. */
  #records: (StoredRecord | undefined)[] = [];
  #head = 0;
  #tailBase = 0;

  constructor(compacted: boolean) {
    this.#compacted = compacted;
  }

  /** The offset the next record will get (Kafka's log end offset). */
  get end(): number {
    return this.#tailBase + this.#records.length - this.#head;
  }

  /** First retained offset (Kafka's log start offset). */
  get base(): number {
    return this.#keptRecords()[0]?.offset ?? this.#tailBase;
  }

  /** How many records the log holds. */
  get retained(): number {
    return this.#kept.size + this.#records.length - this.#head;
  }

  append(record: StoredRecord): void {
    this.#records.push(record);
  }

  /** Up to `max` retained records from offset `from` on (an offset below the base reads from the base). */
  read(from: number, max = Number.POSITIVE_INFINITY): LoggedRecord[] {
    const out: LoggedRecord[] = [];
    if (from < this.#tailBase && this.#kept.size > 0) {
      const kept = this.#keptRecords();
      for (let i = firstAtOrAfter(kept, from); i < kept.length && out.length < max; i++) out.push(kept[i]!);
    }
    // The tail has no gaps: an offset is an index.
    const start = Math.max(from, this.#tailBase);
    const stop = Math.min(this.end, start + (max - out.length));
    for (let offset = start; offset < stop; offset++) {
      out.push({ offset, record: this.#records[this.#head + offset - this.#tailBase]! });
    }
    return out;
  }

  /** Drops every record below `offset` (on a compacted topic, all but the latest per key). */
  trimTo(offset: number): void {
    const stop = Math.min(offset, this.end);
    if (stop <= this.#tailBase) return;
    const newHead = this.#head + (stop - this.#tailBase);
    for (let i = this.#head; i < newHead; i++) {
      const record = this.#records[i]!;
      this.#records[i] = undefined; // frees the value now, not at the next copy
      if (this.#compacted && record.key !== null) {
        this.#kept.delete(record.key);
        this.#kept.set(record.key, { offset: this.#tailBase + i - this.#head, record });
      }
    }
    if (this.#compacted) this.#keptList = undefined;
    this.#head = newHead;
    this.#tailBase = stop;
    if (this.#head >= MIN_HEAD_TO_COMPACT && this.#head * 2 >= this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }

  #keptRecords(): LoggedRecord[] {
    this.#keptList ??= [...this.#kept.values()];
    return this.#keptList;
  }
}

/** Index of the first record at or after `offset` in records sorted by offset. */
function firstAtOrAfter(records: readonly LoggedRecord[], offset: number): number {
  let low = 0;
  let high = records.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (records[mid]!.offset < offset) low = mid + 1;
    else high = mid;
  }
  return low;
}
