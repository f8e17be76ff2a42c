import type { OutgoingRecord } from '@massivesms/messaging';

/** Bytes of record values (and keys) per produce request; stays well under the broker's 1 MiB default. */
const MAX_REQUEST_BYTES = 512 * 1024;

interface Pending {
  readonly records: readonly OutgoingRecord[];
  readonly bytes: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * One produce request in flight at a time (the producer keeps `maxInFlightRequests: 1` for order),
 * and everything sent while it is in flight goes out together in the next one. Concurrent callers
 * (partitions of a consumer, receipt handlers) share round trips instead of queueing one each; no
 * linger timer, so an idle producer sends at once. Records keep the order of the `send` calls.
 */
export class CoalescingSender {
  readonly #flush: (records: OutgoingRecord[]) => Promise<void>;
  #queue: Pending[] = [];
  #inFlight = false;

  constructor(flush: (records: OutgoingRecord[]) => Promise<void>) {
    this.#flush = flush;
  }

  /** Resolves when the request carrying these records was acknowledged; rejects with its error. */
  send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const bytes = records.reduce((n, r) => n + sizeOf(r), 0);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ records, bytes, resolve, reject });
      if (!this.#inFlight) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#inFlight = true;
    try {
      while (this.#queue.length > 0) {
        // Whole calls only: a caller's records never straddle two requests.
        const batch: Pending[] = [];
        let bytes = 0;
        while (this.#queue.length > 0) {
          const next = this.#queue[0]!;
          if (batch.length > 0 && bytes + next.bytes > MAX_REQUEST_BYTES) break;
          batch.push(next);
          bytes += next.bytes;
          this.#queue.shift();
        }
        try {
          await this.#flush(batch.flatMap((p) => p.records));
          for (const p of batch) p.resolve();
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#inFlight = false;
    }
  }
}

function sizeOf(record: OutgoingRecord): number {
  const value = record.value;
  const valueBytes = value === null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  return valueBytes + (record.key ? Buffer.byteLength(record.key) : 0) + 64;
}
