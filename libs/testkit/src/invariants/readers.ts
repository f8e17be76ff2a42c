// Collects what a real run produced for the invariant checker: the cell's topics read whole through
// the messaging port (Kafka or the in-memory bus), the carrier simulators' ledgers and the webhook
// receiver's records, in process or through their admin HTTP APIs (simulators in their own process).
import {
  type Cell,
  type DecodeResult,
  decodeJson,
  type EndpointState,
  endpointStateSchema,
  type ProcessingEvent,
  processingEventSchema,
  type Rejection,
  rejectionSchema,
  type StatusEvent,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { IncomingRecord, MessageBus } from '@massivesms/messaging';
import { type CheckOptions, checkInvariants, type InvariantReport } from './check.ts';
import type {
  CarrierAcceptance,
  RecordSource,
  RequestRef,
  RunRecord,
  UndecodableRecord,
  WebhookAttempt,
  WebhookSubscription,
} from './run.ts';

/** What the checker reads of a cell's topics. */
export interface CellTopicRecords {
  readonly requests: RequestRef[];
  readonly statuses: StatusEvent[];
  readonly rejections: Rejection[];
  readonly processingEvents: ProcessingEvent[];
  /** The endpoints as the control plane last published them (deleted ones left out). */
  readonly endpoints: EndpointState[];
  readonly undecodable: UndecodableRecord[];
}

const sourceOf = (r: IncomingRecord): RecordSource => ({
  topic: r.topic,
  partition: r.partition,
  offset: r.offset,
});

/**
 * Reads the requested, status, rejected, processing and endpoints topics of a cell from their
 * start to where they end now (one reader, outside any consumer group) and decodes them.
 */
export async function readCellTopics(
  bus: Pick<MessageBus, 'readFromStart'>,
  where: { readonly cell: Cell; readonly namespace?: string },
): Promise<CellTopicRecords> {
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(where.cell, name, where.namespace);
  const names = {
    requested: topic('sms.requested.v1'),
    status: topic('sms.status.v1'),
    rejected: topic('sms.rejected.v1'),
    processing: topic('audit.processing.v1'),
    endpoints: topic('endpoints.v1'),
  };
  const records: IncomingRecord[] = [];
  const reader = await bus.readFromStart({
    topics: Object.values(names),
    onRecords: (batch) => void records.push(...batch),
  });
  try {
    await reader.caughtUp;
  } finally {
    await reader.stop();
  }

  const out: CellTopicRecords = {
    requests: [],
    statuses: [],
    rejections: [],
    processingEvents: [],
    endpoints: [],
    undecodable: [],
  };
  const decoded = <T>(r: IncomingRecord, result: DecodeResult<T>): T | undefined => {
    if (result.ok) return result.value;
    out.undecodable.push({ source: sourceOf(r), reason: `${result.error.code}: ${result.error.message}` });
    return undefined;
  };
  // Latest value per endpoint id; records of one key share a partition, read in offset order.
  const endpoints = new Map<string, EndpointState | null>();
  for (const r of records) {
    if (r.topic === names.requested) out.requests.push(requestRefOf(r));
    else if (r.topic === names.status) {
      const s = decoded(r, decodeJson(statusEventSchema, r.value));
      if (s) out.statuses.push(s);
    } else if (r.topic === names.rejected) {
      const s = decoded(r, decodeJson(rejectionSchema, r.value));
      if (s) out.rejections.push(s);
    } else if (r.topic === names.processing) {
      const s = decoded(r, decodeJson(processingEventSchema, r.value));
      if (s) out.processingEvents.push(s);
    } else if (r.topic === names.endpoints && r.key !== null) {
      if (r.value === null) endpoints.set(r.key, null);
      else {
        const s = decoded(r, decodeJson(endpointStateSchema, r.value));
        if (s) endpoints.set(r.key, s);
      }
    }
  }
  out.endpoints.push(...[...endpoints.values()].filter((e): e is EndpointState => e !== null));
  return out;
}

/**
 * A request as read from its topic: its ids when the value is a JSON object carrying them (valid
 * or not: the router answers invalid requests too), and its position in every case.
 */
export function requestRefOf(record: IncomingRecord): RequestRef {
  let value: unknown;
  try {
    value = record.value === null ? undefined : JSON.parse(record.value.toString('utf8'));
  } catch {
    value = undefined;
  }
  const { controllerId, messageId } = (typeof value === 'object' && value !== null ? value : {}) as {
    controllerId?: unknown;
    messageId?: unknown;
  };
  return {
    ...(typeof controllerId === 'string' && typeof messageId === 'string' && controllerId && messageId
      ? { controllerId, messageId }
      : {}),
    source: sourceOf(record),
  };
}

/**
 * Who subscribes to what: each enabled endpoint whose URL points at a receiver endpoint
 * (`…/hooks/<name>`), named as the receiver knows it.
 */
export function subscriptionsOf(endpoints: readonly EndpointState[]): WebhookSubscription[] {
  return endpoints.flatMap((e) => {
    if (!e.enabled) return [];
    const name = /\/hooks\/([^/]+)$/.exec(new URL(e.url).pathname)?.[1];
    return name
      ? [
          {
            receiverEndpoint: decodeURIComponent(name),
            endpointId: e.endpointId,
            controllerId: e.controllerId,
            eventTypes: [...e.eventTypes],
          },
        ]
      : [];
  });
}

/** What the checker needs of ledger entries, and only that (entries also hold the number and text). */
export function acceptancesOf(entries: readonly CarrierAcceptance[]): CarrierAcceptance[] {
  return entries.map((e) => ({
    carrier: e.carrier,
    carrierMessageId: e.carrierMessageId,
    callbackUrl: e.callbackUrl,
  }));
}

/** The ledger of a simulator running in another process, through `GET /__admin/ledger`. */
export async function fetchCarrierAcceptances(simulatorOrigin: string): Promise<CarrierAcceptance[]> {
  const response = await fetch(new URL('/__admin/ledger', simulatorOrigin));
  if (!response.ok) throw new Error(`GET /__admin/ledger answered ${response.status}`);
  const { entries } = (await response.json()) as { entries: CarrierAcceptance[] };
  return acceptancesOf(entries);
}

/** What a receiver in another process recorded, through `GET /__admin/received`. */
export async function fetchWebhookAttempts(receiverOrigin: string): Promise<WebhookAttempt[]> {
  const response = await fetch(new URL('/__admin/received', receiverOrigin));
  if (!response.ok) throw new Error(`GET /__admin/received answered ${response.status}`);
  const { received } = (await response.json()) as { received: WebhookAttempt[] };
  return received.map(({ endpoint, webhookId, body, status }) => ({ endpoint, webhookId, body, status }));
}

/** Where a run's evidence is. Carriers and receiver are either in process or an admin origin. */
export interface RunSources {
  /** Reads the topics (a KafkaBus or the in-memory bus). */
  readonly bus: Pick<MessageBus, 'readFromStart'>;
  readonly cell: Cell;
  readonly namespace?: string;
  /** Carrier simulators: a ledger (`sim.ledger`) or the origin of one in another process. */
  readonly carriers?: readonly ({ readonly entries: readonly CarrierAcceptance[] } | string)[];
  /** The webhook receiver: in process (`{ received }`) or its origin. */
  readonly receiver?: { readonly received: readonly WebhookAttempt[] } | string;
  /** Who subscribes to what; default: the endpoints published on `{cell}.endpoints.v1`. */
  readonly subscriptions?: readonly WebhookSubscription[];
}

/** Collects what a run produced from its real sources. */
export async function collectRun(sources: RunSources): Promise<RunRecord> {
  const topics = await readCellTopics(sources.bus, {
    cell: sources.cell,
    ...(sources.namespace ? { namespace: sources.namespace } : {}),
  });
  const carrierAcceptances = sources.carriers
    ? (
        await Promise.all(
          sources.carriers.map((c) =>
            typeof c === 'string' ? fetchCarrierAcceptances(c) : acceptancesOf(c.entries),
          ),
        )
      ).flat()
    : undefined;
  const attempts =
    sources.receiver === undefined
      ? undefined
      : typeof sources.receiver === 'string'
        ? await fetchWebhookAttempts(sources.receiver)
        : [...sources.receiver.received];
  return {
    requests: topics.requests,
    statuses: topics.statuses,
    rejections: topics.rejections,
    processingEvents: topics.processingEvents,
    undecodable: topics.undecodable,
    carrierAcceptances,
    webhooks: attempts && {
      attempts,
      subscriptions: sources.subscriptions ?? subscriptionsOf(topics.endpoints),
    },
  };
}

/** Collects a run from its real sources and checks every invariant: one call after a fault scenario. */
export async function checkRun(sources: RunSources, options: CheckOptions = {}): Promise<InvariantReport> {
  return checkInvariants(await collectRun(sources), options);
}

/**
 * Checks a run again and again (every `intervalMs`) until the report is clean or `withinMs` passed,
 * and returns the last report: after a fault the pipeline needs a while to catch up, and a report
 * read too early lists what is merely late. The caller asserts on the report it gets.
 */
export async function checkRunUntilClean(
  sources: RunSources,
  options: CheckOptions & { readonly withinMs: number; readonly intervalMs?: number },
): Promise<InvariantReport> {
  const deadline = Date.now() + options.withinMs;
  for (;;) {
    const report = await checkRun(sources, options);
    if (report.ok || Date.now() >= deadline) return report;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(options.intervalMs ?? 500, deadline - Date.now())),
    );
  }
}
