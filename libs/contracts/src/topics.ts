/** The cells (data regions) the pipeline runs in; each has its own topics, database and carriers. */
export const cells = ['us', 'eu'] as const;
export type Cell = (typeof cells)[number];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** One Kafka topic as declared in code; provisioning creates exactly these. */
export interface TopicSpec {
  /** Name without the cell prefix, e.g. `sms.requested.v1`. */
  readonly name: string;
  readonly partitions: number;
  readonly cleanupPolicy: 'delete' | 'compact';
  /** `retention.ms` for delete topics; compacted topics keep the latest value per key. */
  readonly retentionMs: number | null;
  /** Whether records carry (encrypted or plaintext) personal data: such topics keep days, not months. */
  readonly personalData: boolean;
  readonly description: string;
}

/** Every topic of a cell. Topics with personal data keep at most 7 days (DESIGN.md §3.3). */
export const topicTable = Object.freeze([
  {
    name: 'sms.requested.v1',
    partitions: 12,
    cleanupPolicy: 'delete',
    retentionMs: 3 * DAY_MS,
    personalData: true,
    description: 'SMS requests written by the campaign API.',
  },
  {
    name: 'sms.rejected.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    personalData: true,
    description:
      'Requests that failed validation: a stable code and reason, the source position and a salted digest; the record itself only sealed under its controller key.',
  },
  {
    name: 'sms.dispatch.v1',
    partitions: 12,
    cleanupPolicy: 'delete',
    retentionMs: 3 * DAY_MS,
    personalData: true,
    description:
      'Validated, tagged and encrypted messages ready for a carrier, keyed by recipient pseudonym.',
  },
  {
    name: 'sms.status.v1',
    partitions: 12,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    personalData: true,
    description: 'Message status changes (personal fields encrypted).',
  },
  {
    name: 'audit.processing.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    // No personal data, so it may outlive the 7-day topics: a stopped audit service has 30 days to
    // catch up before an event could be lost (alert AuditConsumerLagging fires long before).
    retentionMs: 30 * DAY_MS,
    personalData: false,
    description:
      'Processing events for every operation on personal data; the audit ledger is the long-term record.',
  },
  {
    name: 'audit.checkpoints.v1',
    partitions: 1,
    cleanupPolicy: 'delete',
    retentionMs: 365 * DAY_MS,
    personalData: false,
    description:
      'Signed tree heads of the audit ledger (C2SP checkpoints), in order, for witnesses and auditors to keep.',
  },
  {
    name: 'deadletter.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    personalData: true,
    description:
      'Records a consumer could not process (undecodable at once, failing after bounded retries): original headers and bytes (omitted where the source holds plaintext personal data), code, reason, origin, attempts.',
  },
  {
    name: 'deadletter.replayed.v1',
    partitions: 1,
    cleanupPolicy: 'delete',
    // As long as the dead letters: a replay is recorded after its dead letter, so it outlives it.
    retentionMs: 7 * DAY_MS,
    personalData: false,
    description:
      'Dead letters `massivesms deadletter replay` produced again, keyed by their partition:offset, so a second replay skips them.',
  },
  {
    name: 'privacy.requests.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    personalData: true,
    description:
      'Data-subject requests (access, erasure, restriction, objection) for every service that owns data to act on; the number encrypted.',
  },
  {
    name: 'privacy.acks.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    personalData: true,
    description:
      "Each service's answer to a data-subject request: its part of an access export (encrypted) or what it erased.",
  },
  {
    name: 'webhooks.commands.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 7 * DAY_MS,
    personalData: false,
    description:
      'Resend and recover commands from the control plane to the webhooks service (which owns the deliveries), keyed by controller id.',
  },
  {
    name: 'controllers.v1',
    partitions: 3,
    cleanupPolicy: 'compact',
    retentionMs: null,
    personalData: false,
    description: 'Controllers with their current instruction, keyed by controller id.',
  },
  {
    name: 'endpoints.v1',
    partitions: 3,
    cleanupPolicy: 'compact',
    retentionMs: null,
    personalData: false,
    description: 'Webhook endpoints (secrets encrypted), keyed by endpoint id.',
  },
  {
    name: 'suppressions.v1',
    partitions: 6,
    cleanupPolicy: 'compact',
    retentionMs: null,
    personalData: false,
    description: 'Opt-outs, restrictions and objections, keyed by controller id and recipient pseudonym.',
  },
] as const satisfies readonly TopicSpec[]);

/** Names of the declared topics (without prefix). */
export type TopicName = (typeof topicTable)[number]['name'];

/**
 * Prefix for a cell's topics: `us.` in production, `<testPrefix>.us.` in tests so that test files
 * sharing one broker never see each other's records.
 */
export function topicPrefix(cell: Cell, namespace = ''): string {
  return namespace ? `${namespace}.${cell}.` : `${cell}.`;
}

/** Full topic name for a cell (and optional namespace). */
export function topicFor(cell: Cell, name: TopicName, namespace = ''): string {
  return `${topicPrefix(cell, namespace)}${name}`;
}

/**
 * A consumer group of a service in a cell (`dispatcher.us`, `router.us.suppressions`), prefixed like
 * the topics when a namespace is set: groups of two namespaces on one cluster must never share
 * members, or one side is assigned partitions it does not subscribe to and consumes nothing.
 */
export function consumerGroup(service: string, cell: Cell, namespace = '', purpose?: string): string {
  const base = `${service}.${cell}${purpose ? `.${purpose}` : ''}`;
  return namespace ? `${namespace}.${base}` : base;
}

/** The declared topics of a cell with full names, ready for provisioning. */
export function cellTopics(
  cell: Cell,
  options: { namespace?: string; partitions?: number } = {},
): Array<TopicSpec & { readonly fullName: string }> {
  return topicTable.map((spec) => ({
    ...spec,
    partitions: options.partitions ?? spec.partitions,
    fullName: topicFor(cell, spec.name, options.namespace),
  }));
}
