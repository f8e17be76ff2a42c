// The pipeline bench's load side: produces SMS requests, waits for their webhooks at the receiver,
// and turns what the receiver recorded and the status topic into latencies, funnels and stages.
import type { KafkaBus } from '@massivesms/kafka';

export const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** The latest (or earliest) of many times; NaN for none. No spread: lists can be long. */
export const latest = (times: Iterable<number>) => {
  let max = Number.NaN;
  for (const t of times) if (!(t <= max)) max = t;
  return max;
};
export const earliest = (times: Iterable<number>) => {
  let min = Number.NaN;
  for (const t of times) if (!(t >= min)) min = t;
  return min;
};

/** Produces requests of the bench controller and remembers when each was produced. */
export class RequestProducer {
  readonly producedAt = new Map<string, number>();
  readonly #bus: KafkaBus;
  readonly #topic: string;
  #recipients = 0;

  constructor(bus: KafkaBus, topic: string) {
    this.#bus = bus;
    this.#topic = topic;
  }

  #request(messageId: string): string {
    return JSON.stringify({
      messageId,
      controllerId: 'acme',
      campaignId: 'bench',
      purpose: 'essential.service.notifications.sms',
      to: `+1415${String(2_000_000 + (this.#recipients++ % 7_999_999))}`,
      from: '+14155550100',
      body: `Your order ${messageId} has shipped.`,
    });
  }

  async produce(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1_000) {
      const chunk = ids.slice(i, i + 1_000);
      const at = Date.now();
      for (const id of chunk) this.producedAt.set(id, at);
      await this.#bus
        .producer()
        .send(chunk.map((messageId) => ({ topic: this.#topic, key: null, value: this.#request(messageId) })));
    }
  }

  /** Writes `count` requests of the same shape to another topic (a raw loop's input); nothing routes them. */
  async copyTo(topic: string, count: number): Promise<void> {
    for (let i = 0; i < count; i += 2_000) {
      const n = Math.min(2_000, count - i);
      await this.#bus
        .producer()
        .send(
          Array.from({ length: n }, (_, k) => ({ topic, key: null, value: this.#request(`raw-${i + k}`) })),
        );
    }
  }

  /** Produces `total` requests `<prefix><n>` at `rate` per second, in 50 ms steps; returns when all are out. */
  async produceAtRate(prefix: string, rate: number, total: number): Promise<void> {
    const start = Date.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((rate * (Date.now() - start)) / 1000) + 1);
      if (due > sent) {
        await this.produce(Array.from({ length: due - sent }, (_, k) => `${prefix}${sent + k}`));
        sent = due;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The receiver simulator in its own process, through its admin API. */
export class ReceiverClient {
  readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
  }

  /** Requests answered 2xx so far (retries of a webhook count again). */
  async answered(): Promise<number> {
    const counts = (await (await fetch(`${this.origin}/__admin/counts`)).json()) as { answered2xx: number };
    return counts.answered2xx;
  }

  /**
   * Waits until `target` more requests than `from` were answered 2xx; false when none arrived for
   * `stallMs` (lost on the way: see the funnel) or after `capMs` from `startedAt`.
   */
  async waitFor(
    from: number,
    target: number,
    startedAt: number,
    stallMs: number,
    capMs: number,
  ): Promise<boolean> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const done = (await this.answered()) - from;
      if (done >= target) return true;
      if (done !== last) [last, lastChange] = [done, Date.now()];
      if (Date.now() - lastChange > stallMs || Date.now() - startedAt > capMs) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** First verified, 2xx-answered webhook per message id: when it was received. */
  async webhookTimes(): Promise<{
    times: Map<string, number>;
    signatureFailures: number;
    sampleBody: string;
  }> {
    const { received, summary } = (await (await fetch(`${this.origin}/__admin/received`)).json()) as {
      received: {
        body: string;
        verified: { standardwebhooks: boolean; svix: boolean };
        status: number;
        receivedAt: string;
      }[];
      summary: { signatureFailures: number };
    };
    const times = new Map<string, number>();
    for (const r of received) {
      if (!(r.verified.standardwebhooks && r.verified.svix && r.status >= 200 && r.status < 300)) continue;
      const messageId = (JSON.parse(r.body) as { data?: { messageId?: string } }).data?.messageId;
      if (messageId === undefined) continue;
      const at = Date.parse(r.receivedAt);
      if (!(times.get(messageId)! <= at)) times.set(messageId, at);
    }
    return {
      times,
      signatureFailures: summary.signatureFailures,
      sampleBody: received.find((r) => r.status === 200)?.body ?? '{}',
    };
  }
}

/** First time each message reached each status, from the status records' own timestamps. */
export async function readStatusTimes(
  bus: KafkaBus,
  statusTopic: string,
): Promise<Map<string, Map<string, number>>> {
  const at = new Map<string, Map<string, number>>();
  const reader = await bus.readFromStart({
    topics: [statusTopic],
    onRecords: (records) => {
      for (const r of records) {
        const { messageId, status } = JSON.parse(r.value!.toString()) as {
          messageId: string;
          status: string;
        };
        const byId = at.get(status) ?? new Map<string, number>();
        at.set(status, byId);
        const t = Number(r.timestamp);
        if (!(byId.get(messageId)! <= t)) byId.set(messageId, t);
      }
    },
  });
  await reader.caughtUp;
  await reader.stop();
  return at;
}

/** How many of the phase's messages (ids starting with `prefix`) reached each status, and their webhooks. */
export function funnel(
  statusAt: Map<string, Map<string, number>>,
  prefix: string,
  produced: number,
  webhooks: number,
) {
  const statuses: Record<string, number> = {};
  for (const [status, byId] of statusAt) {
    let n = 0;
    for (const id of byId.keys()) if (id.startsWith(prefix)) n++;
    if (n > 0) statuses[status] = n;
  }
  return { produced, statuses, verifiedWebhooks: webhooks };
}

/** p50/p99 of (to − from) over the ids that have both. */
function gap(ids: readonly string[], from: Map<string, number>, to: Map<string, number>) {
  const d = ids
    .filter((id) => from.has(id) && to.has(id))
    .map((id) => to.get(id)! - from.get(id)!)
    .sort((a, b) => a - b);
  return { p50Ms: percentile(d, 50), p99Ms: percentile(d, 99) };
}

/** Per-message stage latencies: request → carrier accepted (queued) → delivered status → webhook. */
export function stages(
  ids: readonly string[],
  producedAt: Map<string, number>,
  statusAt: Map<string, Map<string, number>>,
  webhooks: Map<string, number>,
) {
  const seen = (status: string) => statusAt.get(status) ?? new Map<string, number>();
  return {
    requestToCarrierAccepted: gap(ids, producedAt, seen('queued')),
    carrierAcceptedToDeliveredStatus: gap(ids, seen('queued'), seen('delivered')),
    deliveredStatusToWebhook: gap(ids, seen('delivered'), webhooks),
  };
}
