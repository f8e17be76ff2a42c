interface Pending<I, O> {
  readonly item: I;
  readonly key: string;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export interface StatementCoalescerOptions<I> {
  /** Calls with the same key never share a statement or run at once, so each sees what sequential calls would. */
  readonly key: (item: I) => string;
  /** Largest number of calls in one statement. */
  readonly maxBatch?: number;
  /** Statements in flight at once (their keys never overlap): one slow statement does not stop the rest. */
  readonly maxInFlight?: number;
  /**
   * Whether a failed multi-row statement is retried row by row (so only the faulty call sees the
   * error). Default: PostgreSQL errors of one row's data (22), a constraint (23) or a deadlock or
   * serialisation failure (40); anything else (connection lost, a statement timeout: SQLSTATE 57014,
   * a query timeout: DB_QUERY_TIMEOUT) may have committed or says nothing about one row, so the whole
   * batch is rejected.
   */
  readonly retryAlone?: (error: unknown) => boolean;
}

/** SQLSTATE classes whose failure one row can cause, and where running each row alone is the cure. */
export function isRowLevelFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|40)[0-9A-Z]{3}$/.test(code);
}

/**
 * Turns concurrent single-row statements (writes, or lookups) into multi-row ones: calls made while
 * statements are in flight wait and go together in the next one. No timer, so a lone call pays no
 * delay and a busy service pays one round trip per batch instead of one per row.
 *
 * `flush` gets the items and answers one result per item, in order.
 */
export class StatementCoalescer<I, O> {
  readonly #flush: (items: readonly I[]) => Promise<readonly O[]>;
  readonly #key: (item: I) => string;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #retryAlone: (error: unknown) => boolean;
  #queue: Pending<I, O>[] = [];
  readonly #busyKeys = new Set<string>();
  #inFlight = 0;

  constructor(flush: (items: readonly I[]) => Promise<readonly O[]>, options: StatementCoalescerOptions<I>) {
    this.#flush = flush;
    this.#key = options.key;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#retryAlone = options.retryAlone ?? isRowLevelFailure;
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, key: this.#key(item), resolve, reject });
      this.#pump();
    });
  }

  /** Starts statements while there is room and work whose keys are free. */
  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch: Pending<I, O>[] = [];
      const later: Pending<I, O>[] = [];
      const seen = new Set<string>();
      for (const pending of this.#queue) {
        // A key in flight or already in this batch waits; so do its later calls (order per key).
        const free = !this.#busyKeys.has(pending.key) && !seen.has(pending.key);
        seen.add(pending.key);
        if (free && batch.length < this.#maxBatch) batch.push(pending);
        else later.push(pending);
      }
      if (batch.length === 0) return;
      this.#queue = later;
      for (const pending of batch) this.#busyKeys.add(pending.key);
      this.#inFlight++;
      void this.#settle(batch).finally(() => {
        for (const pending of batch) this.#busyKeys.delete(pending.key);
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #settle(batch: readonly Pending<I, O>[]): Promise<void> {
    let results: readonly O[];
    try {
      results = await this.#flush(batch.map((p) => p.item));
    } catch (error) {
      if (batch.length > 1 && this.#retryAlone(error)) {
        for (const pending of batch) await this.#settle([pending]);
      } else for (const pending of batch) pending.reject(error);
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
