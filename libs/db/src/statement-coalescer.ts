interface Pending<I, O> {
  readonly item: I;
  readonly key: string;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export interface StatementCoalescerOptions<I> {
  /** Calls with the same key never share a statement, so each sees what sequential calls would. */
  readonly key: (item: I) => string;
  /** Largest number of calls in one statement. */
  readonly maxBatch?: number;
}

/**
 * Turns concurrent single-row statements (writes, or lookups) into multi-row ones: calls made while a
 * statement is in flight wait and go together in the next one. One statement in flight, no timer, so a lone call pays
 * no delay and a busy service pays one round trip per batch instead of one per row.
 *
 * `flush` gets the items and answers one result per item, in order. When a multi-row statement fails
 * (a constraint one row breaks, a deadlock) each of its items is retried alone, so only the call that
 * is at fault sees the error.
 */
export class StatementCoalescer<I, O> {
  readonly #flush: (items: readonly I[]) => Promise<readonly O[]>;
  readonly #key: (item: I) => string;
  readonly #maxBatch: number;
  #queue: Pending<I, O>[] = [];
  #inFlight = false;

  constructor(flush: (items: readonly I[]) => Promise<readonly O[]>, options: StatementCoalescerOptions<I>) {
    this.#flush = flush;
    this.#key = options.key;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, key: this.#key(item), resolve, reject });
      if (!this.#inFlight) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#inFlight = true;
    try {
      while (this.#queue.length > 0) {
        const batch: Pending<I, O>[] = [];
        const keys = new Set<string>();
        const later: Pending<I, O>[] = [];
        for (const pending of this.#queue) {
          // A key already in this batch waits for the next one, and so does everything after it.
          if (batch.length < this.#maxBatch && !keys.has(pending.key)) {
            batch.push(pending);
            keys.add(pending.key);
          } else later.push(pending);
        }
        this.#queue = later;
        await this.#settle(batch);
      }
    } finally {
      this.#inFlight = false;
    }
  }

  async #settle(batch: readonly Pending<I, O>[]): Promise<void> {
    let results: readonly O[];
    try {
      results = await this.#flush(batch.map((p) => p.item));
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else for (const pending of batch) await this.#settle([pending]);
      return;
    }
    // Not retried: the statement ran, and running it again would not be the same write.
    const mismatch =
      results.length === batch.length
        ? undefined
        : new Error(`statement coalescer: ${results.length} results for ${batch.length} items`);
    for (const [i, pending] of batch.entries()) {
      if (mismatch) pending.reject(mismatch);
      else pending.resolve(results[i] as O);
    }
  }
}
