import type { Headers } from '@massivesms/messaging';
import { tracingEnabled } from '@massivesms/telemetry';

/** Deliveries whose trace context is remembered at most (the least recently stored are forgotten). */
const MAX_REMEMBERED = 10_000;

/**
 * The trace context of the status each delivery was made for, from intake to the worker's attempts.
 * Kept in this process only (nothing is stored with the delivery): an attempt made by another
 * replica, after a restart, or past the bound starts no trace of the status; best effort by design,
 * and nothing at all while tracing is off.
 */
export class DeliveryTraces {
  readonly #traces = new Map<string, Headers>();

  /** Remembers the status record's trace context (its headers) for these deliveries. */
  remember(webhookIds: readonly string[], headers: Headers): void {
    if (!tracingEnabled() || headers.traceparent === undefined) return;
    const context: Headers =
      headers.tracestate === undefined
        ? { traceparent: headers.traceparent }
        : { traceparent: headers.traceparent, tracestate: headers.tracestate };
    for (const id of webhookIds) {
      this.#traces.delete(id);
      this.#traces.set(id, context);
      if (this.#traces.size > MAX_REMEMBERED) this.#traces.delete(this.#traces.keys().next().value!);
    }
  }

  /** The trace context to attempt a delivery in, if remembered. */
  of(webhookId: string): Headers | undefined {
    return this.#traces.size === 0 ? undefined : this.#traces.get(webhookId);
  }
}

/** The process's deliveries' trace contexts (intake writes, the worker reads). */
export const deliveryTraces: DeliveryTraces = new DeliveryTraces();
