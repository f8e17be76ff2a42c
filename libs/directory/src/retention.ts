import { randomUUID } from 'node:crypto';
import {
  type Cell,
  type ControllerState,
  encodeJson,
  type ProcessingEvent,
  processingEventSchema,
  type TopicName,
  topicFor,
  topicTable,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';

const DAY_MS = 86_400_000;

/** Instants before which a controller's stored content and delivery metadata must be gone. */
export interface RetentionCutoffs {
  /** Message content (bodies): `retention.contentDays` ago. */
  readonly content: Date;
  /** Delivery metadata (statuses, timestamps, webhook payloads naming the recipient): `retention.metadataDays` ago. */
  readonly metadata: Date;
}

/**
 * The cutoffs of a controller's current instruction at `now`, never later than `now - floorMs` (a row
 * that deduplicates a Kafka record is kept while the record may be read again). Undefined without an
 * instruction: nothing is processed for such a controller, and what it had is kept until it publishes
 * one (or terminates).
 */
export function retentionCutoffs(
  controller: ControllerState,
  now: Date,
  floorMs = 0,
): RetentionCutoffs | undefined {
  const retention = controller.instruction?.document.retention as
    | { contentDays?: unknown; metadataDays?: unknown }
    | undefined;
  const days = (value: unknown) => (typeof value === 'number' && value >= 0 ? value : undefined);
  const content = days(retention?.contentDays);
  const metadata = days(retention?.metadataDays);
  if (content === undefined || metadata === undefined) return undefined;
  const before = (d: number) => new Date(now.getTime() - Math.max(d * DAY_MS, floorMs));
  return { content: before(content), metadata: before(metadata) };
}

/** How long a topic keeps its records: a row that deduplicates them is kept at least this long. */
export function topicRetentionMs(name: TopicName): number {
  return topicTable.find((t) => t.name === name)?.retentionMs ?? 0;
}

/** One service's rows past their retention, behind a port (its SQL in the service's adapter). */
export interface RetentionTx {
  /** Deletes (or strips) at most `limit` expired rows of the controller; rows per table. */
  purge(controllerId: string, cutoffs: RetentionCutoffs, limit: number): Promise<Record<string, number>>;
  /** Stores the purge's audit event in the service's outbox, with the deletion. */
  announce(records: readonly OutgoingRecord[]): Promise<void>;
}
export type RetentionStore = <T>(fn: (tx: RetentionTx) => Promise<T>) => Promise<T>;

export interface RetentionDeps {
  readonly service: ProcessingEvent['service'];
  readonly cell: Cell;
  readonly namespace: string;
  /** The controllers of the cell (the directory's view). */
  readonly controllers: () => Iterable<ControllerState>;
  readonly store: RetentionStore;
  readonly now: () => Date;
  /** Rows a purged row may still deduplicate are kept this long at least (the input topic's retention). */
  readonly floorMs?: number;
  /** Rows per transaction (default 1,000): a purge never holds many locks for long. */
  readonly batch?: number;
}

/**
 * One purge pass (instructions' retention): for every controller, expired rows are deleted in small
 * transactions, each storing a `retention.purge` processing event (counts only) with its deletion.
 * Answers rows purged per table over the pass.
 */
export async function purgeExpired(deps: RetentionDeps): Promise<Record<string, number>> {
  const batch = deps.batch ?? 1_000;
  const total: Record<string, number> = {};
  for (const controller of [...deps.controllers()]) {
    if (controller.region !== deps.cell) continue;
    const now = deps.now();
    const cutoffs = retentionCutoffs(controller, now, deps.floorMs);
    if (!cutoffs) continue;
    for (;;) {
      const purged = await deps.store(async (tx) => {
        const counts = await tx.purge(controller.controllerId, cutoffs, batch);
        const rows = Object.values(counts).reduce((a, b) => a + b, 0);
        if (rows > 0) await tx.announce([purgeEvent(deps, controller, counts, cutoffs, now)]);
        return { counts, rows };
      });
      for (const [table, n] of Object.entries(purged.counts))
        if (n > 0) total[table] = (total[table] ?? 0) + n;
      if (purged.rows < batch) break;
    }
  }
  return total;
}

function purgeEvent(
  deps: RetentionDeps,
  controller: ControllerState,
  counts: Record<string, number>,
  cutoffs: RetentionCutoffs,
  now: Date,
): OutgoingRecord {
  const event: ProcessingEvent = {
    eventId: randomUUID(),
    occurredAt: now.toISOString(),
    service: deps.service,
    operation: 'retention.purge',
    controllerId: controller.controllerId,
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    ...(controller.instruction ? { instruction: controller.instruction.ref } : {}),
    region: deps.cell,
    outcome: 'performed',
    reason: `purged ${Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([table, n]) => `${table}=${n}`)
      .join(
        ', ',
      )}; content before ${cutoffs.content.toISOString()}, metadata before ${cutoffs.metadata.toISOString()}`.slice(
      0,
      500,
    ),
  };
  return {
    topic: topicFor(deps.cell, 'audit.processing.v1', deps.namespace),
    key: controller.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: {
      region: deps.cell,
      controller: controller.controllerId,
      schema: 'audit.processing.v1',
    },
  };
}
