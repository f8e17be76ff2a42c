// The receiver's record of every delivery attempt, and the counts a test, the demo or a benchmark
// asserts on. "Delivered" counts webhook-ids, not attempts: retries of one id that finally got a
// 2xx are one delivery, which is what a sender's exactly-once claim is measured against.

import type { Verification } from './verify.ts';

/** One request to `/hooks/<name>`, in arrival order. */
export interface ReceivedWebhook {
  /** The `<name>` of the URL, registered or not. */
  endpoint: string;
  /** The `webhook-id` header ('' when missing). */
  webhookId: string;
  /** The `webhook-timestamp` header in Unix seconds (NaN when missing or not a number; null in JSON). */
  timestamp: number;
  /** The body exactly as received, decoded as UTF-8 ('' when refused with 413). */
  body: string;
  verified: Verification;
  /** What we answered; 0 while a `hangMs` answer is pending, and for good when close() or the sender cut it. */
  status: number;
  receivedAt: Date;
}

/** Counts for one endpoint or for all of them. */
export interface ReceiverCounts {
  /** Requests recorded (every attempt). */
  received: number;
  /** Distinct webhook-ids answered 2xx. */
  delivered: number;
  /** Requests answered 400 because either package rejected the signature. */
  signatureFailures: number;
}

/** `summary()`: totals plus the same counts per endpoint name. */
export interface ReceiverSummary extends ReceiverCounts {
  byEndpoint: Record<string, ReceiverCounts>;
}

/** Holds the records; `records` is the live array, emptied in place by `clear()`. */
export class ReceiptLog {
  readonly records: ReceivedWebhook[] = [];
  // Kept beside the record rather than in it, so the record keeps the documented shape.
  readonly #signatureFailures = new WeakSet<ReceivedWebhook>();

  /** Appends a record; `signatureFailure` marks it as rejected by a package. */
  add(record: ReceivedWebhook, options: { signatureFailure?: boolean } = {}): void {
    this.records.push(record);
    if (options.signatureFailure) this.#signatureFailures.add(record);
  }

  /** Records of one endpoint, in arrival order (a copy). */
  forEndpoint(name: string): ReceivedWebhook[] {
    return this.records.filter((r) => r.endpoint === name);
  }

  /** Forgets every record. */
  clear(): void {
    this.records.length = 0;
  }

  /** Counts per endpoint and in total. */
  summary(): ReceiverSummary {
    // A Map, not an object literal: unregistered names come from the URL ("__proto__" included).
    const byEndpoint = new Map<string, ReceiverCounts>();
    const deliveredIds = new Map<string, Set<string>>();
    for (const r of this.records) {
      let counts = byEndpoint.get(r.endpoint);
      if (!counts) {
        counts = { received: 0, delivered: 0, signatureFailures: 0 };
        byEndpoint.set(r.endpoint, counts);
      }
      counts.received++;
      if (this.#signatureFailures.has(r)) counts.signatureFailures++;
      if (r.status >= 200 && r.status < 300) {
        const ids = deliveredIds.get(r.endpoint) ?? new Set<string>();
        deliveredIds.set(r.endpoint, ids);
        ids.add(r.webhookId);
        counts.delivered = ids.size;
      }
    }
    const total: ReceiverCounts = { received: 0, delivered: 0, signatureFailures: 0 };
    for (const counts of byEndpoint.values()) {
      total.received += counts.received;
      total.delivered += counts.delivered;
      total.signatureFailures += counts.signatureFailures;
    }
    return { ...total, byEndpoint: Object.fromEntries(byEndpoint) };
  }
}
