// The delivery guarantees of DESIGN.md §2 and §5.0 as one pure check over what a run produced
// (run.ts). It reads plain arrays, so it is tested on planted data; readers.ts fills them from
// Kafka, the carrier simulators' ledgers and the webhook receiver after a real run.
//
// What it proves, and the kind of violation for each breach:
//   requests   every request has exactly one terminal status, or (a request the router could not
//              attribute to a controller of this cell) a rejection on sms.rejected.v1:
//              missing_terminal, two_terminal_statuses, status_after_terminal, status_seq_conflict,
//              rejection_duplicated, answer_without_request
//              Statuses of a message are ordered by statusSeq; the same (message, statusSeq, status)
//              seen twice is one status republished (its eventId may differ), never a second status.
//   carriers   no message is accepted twice by any carrier (both ledgers together), every send is
//              for a message that was requested and not refused, and a carrier-reported status has
//              a send behind it: double_send, send_unattributed, send_without_request,
//              sent_but_refused, status_without_send
//   webhooks   each subscribed endpoint received (2xx) every terminal status (or every status, when
//              asked) of its controller's messages, never one status under two webhook-ids:
//              webhook_missing, webhook_id_changed
//   processing every event a state change calls for (processing-rules.ts) is on the topic, and
//              one event is never on it under two event ids: processing_event_missing, event_id_changed
//   all        every record read decodes: undecodable_record
//
// Violations carry ids only (controller, message, endpoint, event and webhook ids), never a number
// or a message body, so a report can be printed by a failing test.
import {
  type MessageStatus,
  type ProcessingEvent,
  type StatusEvent,
  terminalStatuses,
} from '@massivesms/contracts';
import { type ProcessingRule, processingRules } from './processing-rules.ts';
import {
  type AttributedSend,
  callbackTarget,
  type DeliveredWebhook,
  type RecordSource,
  type RequestRef,
  type RunFacts,
  type RunRecord,
  webhookStatusChange,
} from './run.ts';

/** The kinds of violation, stable: tests and fault scenarios select on them. */
export const violationKinds = [
  'undecodable_record',
  'missing_terminal',
  'two_terminal_statuses',
  'status_after_terminal',
  'status_seq_conflict',
  'rejection_duplicated',
  'answer_without_request',
  'double_send',
  'send_unattributed',
  'send_without_request',
  'sent_but_refused',
  'status_without_send',
  'webhook_missing',
  'webhook_id_changed',
  'processing_event_missing',
  'event_id_changed',
] as const;
export type ViolationKind = (typeof violationKinds)[number];

/** One breach of an invariant, with the ids involved. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly controllerId?: string;
  readonly messageId?: string;
  readonly endpointId?: string;
  /** Status, processing or rejection event ids involved. */
  readonly eventIds?: readonly string[];
  readonly webhookIds?: readonly string[];
  readonly carrierMessageIds?: readonly string[];
  /** The processing rule that was not met (processing_event_missing, event_id_changed). */
  readonly rule?: string;
  /** The record at fault, when one record is. */
  readonly source?: RecordSource;
  /** What is wrong, in words; ids and statuses only. */
  readonly detail: string;
}

/** The checker's answer. */
export interface InvariantReport {
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  /** What was looked at: a part of the run that was not given shows as null, so it cannot pass unseen. */
  readonly checked: {
    readonly requests: number;
    readonly statuses: number;
    readonly rejections: number;
    readonly carrierAcceptances: number | null;
    readonly webhookAttempts: number | null;
    readonly processingEvents: number | null;
    readonly processingRules: readonly string[];
  };
}

export interface CheckOptions {
  /**
   * Which statuses each subscribed endpoint must have received: the terminal ones (default, the
   * guarantee), or every status published on the topic that it subscribes to.
   */
  readonly webhookStatuses?: 'terminal' | 'all';
  /** The processing-event rules to apply (default: all of processing-rules.ts). */
  readonly processingRules?: readonly ProcessingRule[];
}

// Unit separator: not in the id alphabet (which allows ':'), so joined keys cannot collide.
const SEP = '\u001f';
const messageKey = (controllerId: string, messageId: string) => `${controllerId}${SEP}${messageId}`;
const sourceKey = (s: RecordSource) => `${s.topic}${SEP}${s.partition}${SEP}${s.offset}`;
const isTerminal = (status: string) => terminalStatuses.has(status as MessageStatus);
/** Statuses only a carrier can report: a send must be behind them. */
const carrierReported: ReadonlySet<string> = new Set(['queued', 'sent', 'delivered', 'undelivered']);
/** Terminal statuses that say the message was never handed to a carrier. */
const refusedStatuses: ReadonlySet<string> = new Set(['suppressed', 'expired', 'rejected']);

interface RequestEntry {
  readonly controllerId: string | undefined;
  readonly messageId: string | undefined;
  /** Where the request was first read, for one that carries no ids. */
  readonly source: RecordSource | undefined;
  /** One status change per statusSeq: every copy seen, by status. */
  readonly changes: Map<number, Map<string, StatusEvent[]>>;
  readonly rejectionIds: Set<string>;
  /** Whether a rejection names the request's ids: the router could read it (and logs its decision). */
  attributed: boolean;
  readonly sends: AttributedSend[];
}

/** Checks a run against every invariant and lists every violation (an empty list: the run is clean). */
export function checkInvariants(run: RunRecord, options: CheckOptions = {}): InvariantReport {
  const violations: Violation[] = [];
  const report = (v: Violation) => violations.push(v);

  for (const u of run.undecodable ?? [])
    report({ kind: 'undecodable_record', source: u.source, detail: `${u.source.topic}: ${u.reason}` });

  // Requests, by ids, or by position when they carry none.
  const requests = new Map<string, RequestEntry>();
  const bySource = new Map<string, RequestEntry>();
  for (const ref of run.requests) {
    const key = keyOf(ref);
    let entry = requests.get(key);
    if (!entry) {
      entry = {
        controllerId: ref.controllerId,
        messageId: ref.messageId,
        source: ref.source,
        changes: new Map(),
        rejectionIds: new Set(),
        attributed: false,
        sends: [],
      };
      requests.set(key, entry);
    }
    if (ref.source) bySource.set(sourceKey(ref.source), entry);
  }

  for (const status of run.statuses) {
    const entry = requests.get(messageKey(status.controllerId, status.messageId));
    if (!entry) {
      report({
        kind: 'answer_without_request',
        controllerId: status.controllerId,
        messageId: status.messageId,
        eventIds: [status.eventId],
        detail: `status ${status.status}@${status.statusSeq} for a message nobody requested`,
      });
      continue;
    }
    const change = entry.changes.get(status.statusSeq) ?? new Map<string, StatusEvent[]>();
    entry.changes.set(status.statusSeq, change);
    change.set(status.status, [...(change.get(status.status) ?? []), status]);
  }

  for (const rejection of run.rejections) {
    const named =
      rejection.controllerId && rejection.messageId
        ? requests.get(messageKey(rejection.controllerId, rejection.messageId))
        : undefined;
    const entry = named ?? bySource.get(sourceKey(rejection.source));
    if (!entry) {
      report({
        kind: 'answer_without_request',
        ...ids(rejection.controllerId, rejection.messageId),
        eventIds: [rejection.rejectionId],
        source: rejection.source,
        detail: `rejection ${rejection.code} of a request that is not among the requests`,
      });
      continue;
    }
    entry.rejectionIds.add(rejection.rejectionId);
    if (named) entry.attributed = true;
  }

  for (const entry of requests.values()) checkStatuses(entry, report);

  // Carriers: every acceptance, attributed through our callback URL.
  const sends: AttributedSend[] = [];
  if (run.carrierAcceptances) {
    for (const a of run.carrierAcceptances) {
      const target = callbackTarget(a.callbackUrl);
      if (!target) {
        report({
          kind: 'send_unattributed',
          carrierMessageIds: [a.carrierMessageId],
          detail: `${a.carrier} accepted a message whose callback URL names no message of ours`,
        });
        continue;
      }
      const send: AttributedSend = {
        carrier: a.carrier,
        carrierMessageId: a.carrierMessageId,
        controllerId: target.controllerId,
        messageId: target.messageId,
      };
      sends.push(send);
      const entry = requests.get(messageKey(send.controllerId, send.messageId));
      if (entry) entry.sends.push(send);
      else
        report({
          kind: 'send_without_request',
          ...ids(send.controllerId, send.messageId),
          carrierMessageIds: [send.carrierMessageId],
          detail: `${send.carrier} accepted a message nobody requested`,
        });
    }
    for (const entry of requests.values()) checkSends(entry, report);
  }

  const deliveredWebhooks = run.webhooks ? checkWebhooks(run, requests, options, report) : [];

  const rules = options.processingRules ?? processingRules;
  if (run.processingEvents) {
    const answeredRequests = [...requests.values()].flatMap((e) =>
      e.controllerId && e.messageId && (e.changes.size > 0 || e.attributed)
        ? [{ controllerId: e.controllerId, messageId: e.messageId }]
        : [],
    );
    checkProcessing(run.processingEvents, { answeredRequests, sends, deliveredWebhooks }, rules, report);
  }

  return {
    ok: violations.length === 0,
    violations,
    checked: {
      requests: requests.size,
      statuses: run.statuses.length,
      rejections: run.rejections.length,
      carrierAcceptances: run.carrierAcceptances?.length ?? null,
      webhookAttempts: run.webhooks?.attempts.length ?? null,
      processingEvents: run.processingEvents?.length ?? null,
      processingRules: run.processingEvents ? rules.map((r) => r.name) : [],
    },
  };
}

function keyOf(ref: RequestRef): string {
  if (ref.controllerId && ref.messageId) return messageKey(ref.controllerId, ref.messageId);
  if (ref.source) return `@${sourceKey(ref.source)}`;
  throw new TypeError('a request needs its controllerId and messageId, or its source position');
}

function ids(controllerId: string | undefined, messageId: string | undefined) {
  return { ...(controllerId ? { controllerId } : {}), ...(messageId ? { messageId } : {}) };
}

/** Whom a violation is about: the request's ids, or its position when it has none. */
const describe = (entry: RequestEntry) =>
  entry.controllerId && entry.messageId
    ? ids(entry.controllerId, entry.messageId)
    : entry.source
      ? { source: entry.source }
      : {};

/** Exactly one terminal status (or a rejection), nothing after it, one status per statusSeq. */
function checkStatuses(entry: RequestEntry, report: (v: Violation) => void): void {
  const who = describe(entry);
  const seqs = [...entry.changes.keys()].sort((a, b) => a - b);
  const terminal: { seq: number; status: string; eventIds: string[] }[] = [];
  for (const seq of seqs) {
    const change = entry.changes.get(seq)!;
    if (change.size > 1)
      report({
        kind: 'status_seq_conflict',
        ...who,
        eventIds: [...change.values()].flat().map((s) => s.eventId),
        detail: `statusSeq ${seq} carries different statuses: ${[...change.keys()].join(', ')}`,
      });
    for (const [status, copies] of change)
      if (isTerminal(status)) terminal.push({ seq, status, eventIds: copies.map((s) => s.eventId) });
  }
  const rejected = entry.rejectionIds.size > 0;
  if (entry.rejectionIds.size > 1)
    report({
      kind: 'rejection_duplicated',
      ...who,
      eventIds: [...entry.rejectionIds],
      detail: `rejected ${entry.rejectionIds.size} times under different rejection ids`,
    });
  if (terminal.length === 0 && !rejected) {
    const last = seqs.at(-1);
    report({
      kind: 'missing_terminal',
      ...who,
      detail:
        last === undefined
          ? 'no status and no rejection'
          : `last status ${[...entry.changes.get(last)!.keys()].join('/')}@${last} is not terminal`,
    });
  }
  const terminalNames = terminal.map((t) => `${t.status}@${t.seq}`);
  if (terminal.length > 1)
    report({
      kind: 'two_terminal_statuses',
      ...who,
      eventIds: terminal.flatMap((t) => t.eventIds),
      detail: `terminal statuses ${terminalNames.join(', ')}`,
    });
  else if (rejected && terminal.some((t) => t.status !== 'rejected'))
    report({
      kind: 'two_terminal_statuses',
      ...who,
      eventIds: [...entry.rejectionIds, ...terminal.flatMap((t) => t.eventIds)],
      detail: `rejected on sms.rejected.v1, yet ${terminalNames.join(', ')}`,
    });
  const first = terminal[0];
  if (first) {
    const later = seqs.filter(
      (seq) => seq > first.seq && ![...entry.changes.get(seq)!.keys()].some(isTerminal),
    );
    if (later.length > 0)
      report({
        kind: 'status_after_terminal',
        ...who,
        eventIds: later.flatMap((seq) => [...entry.changes.get(seq)!.values()].flat().map((s) => s.eventId)),
        detail: `${later.map((seq) => `${[...entry.changes.get(seq)!.keys()].join('/')}@${seq}`).join(', ')} after ${first.status}@${first.seq}`,
      });
  }
}

/** At most one acceptance per message, none for a refused message, one behind every carrier status. */
function checkSends(entry: RequestEntry, report: (v: Violation) => void): void {
  const who = describe(entry);
  const statuses = new Set([...entry.changes.values()].flatMap((change) => [...change.keys()]));
  if (entry.sends.length > 1)
    report({
      kind: 'double_send',
      ...who,
      carrierMessageIds: entry.sends.map((s) => s.carrierMessageId),
      detail: `accepted ${entry.sends.length} times: ${entry.sends.map((s) => s.carrier).join(', ')}`,
    });
  if (entry.sends.length > 0) {
    const refusal =
      [...statuses].find((s) => refusedStatuses.has(s)) ??
      (entry.rejectionIds.size > 0 ? 'rejected' : undefined);
    if (refusal)
      report({
        kind: 'sent_but_refused',
        ...who,
        carrierMessageIds: entry.sends.map((s) => s.carrierMessageId),
        detail: `${entry.sends.map((s) => s.carrier).join(', ')} accepted a message whose status is ${refusal}`,
      });
  } else {
    const reported = [...statuses].filter((s) => carrierReported.has(s));
    if (reported.length > 0)
      report({
        kind: 'status_without_send',
        ...who,
        detail: `status ${reported.join(', ')} but no carrier accepted the message`,
      });
  }
}

/** Every expected status reached each subscribed endpoint (2xx), each under one webhook-id. */
function checkWebhooks(
  run: RunRecord,
  requests: ReadonlyMap<string, RequestEntry>,
  options: CheckOptions,
  report: (v: Violation) => void,
): DeliveredWebhook[] {
  const { attempts, subscriptions } = run.webhooks!;
  const byReceiverName = new Map(subscriptions.map((s) => [s.receiverEndpoint, s]));
  // Per (endpoint, message, statusSeq, status): the webhook-ids seen, and whether one was answered 2xx.
  const seen = new Map<
    string,
    { ids: Set<string>; delivered: string | undefined; attempts: number; lastHttp: number }
  >();
  const changeKey = (endpoint: string, messageId: string, seq: number, status: string) =>
    [endpoint, messageId, seq, status].join(SEP);
  for (const attempt of attempts) {
    const change = webhookStatusChange(attempt.body);
    if (!change) continue; // operational events (endpoint.*) and refused bodies speak of no status
    const key = changeKey(attempt.endpoint, change.messageId, change.statusSeq, change.status);
    const entry = seen.get(key) ?? { ids: new Set(), delivered: undefined, attempts: 0, lastHttp: 0 };
    seen.set(key, entry);
    entry.ids.add(attempt.webhookId);
    entry.attempts++;
    entry.lastHttp = attempt.status;
    if (attempt.status >= 200 && attempt.status < 300) entry.delivered ??= attempt.webhookId;
  }
  for (const [key, entry] of seen) {
    if (entry.ids.size < 2) continue;
    const [endpoint, messageId, seq, status] = key.split(SEP) as [string, string, string, string];
    const subscription = byReceiverName.get(endpoint);
    report({
      kind: 'webhook_id_changed',
      ...ids(subscription?.controllerId, messageId),
      ...(subscription ? { endpointId: subscription.endpointId } : {}),
      webhookIds: [...entry.ids],
      detail: `message.${status} (statusSeq ${seq}) reached endpoint ${subscription?.endpointId ?? `"${endpoint}" at the receiver`} under ${entry.ids.size} webhook-ids`,
    });
  }

  const delivered: DeliveredWebhook[] = [];
  const scope = options.webhookStatuses ?? 'terminal';
  const byController = Map.groupBy(
    [...requests.values()].filter((e) => e.controllerId && e.messageId),
    (e) => e.controllerId!,
  );
  for (const subscription of subscriptions) {
    for (const entry of byController.get(subscription.controllerId) ?? []) {
      for (const [seq, change] of entry.changes) {
        for (const status of change.keys()) {
          const eventType = `message.${status}`;
          if (!subscription.eventTypes.includes(eventType)) continue;
          const got = seen.get(changeKey(subscription.receiverEndpoint, entry.messageId!, seq, status));
          if (got?.delivered)
            delivered.push({
              endpointId: subscription.endpointId,
              controllerId: subscription.controllerId,
              messageId: entry.messageId!,
              eventType,
              statusSeq: seq,
              webhookId: got.delivered,
            });
          else if (scope === 'all' || isTerminal(status))
            report({
              kind: 'webhook_missing',
              controllerId: subscription.controllerId,
              messageId: entry.messageId!,
              endpointId: subscription.endpointId,
              ...(got ? { webhookIds: [...got.ids] } : {}),
              detail: got
                ? `${eventType} (statusSeq ${seq}) never answered 2xx: ${got.attempts} attempts, last HTTP ${got.lastHttp}`
                : `${eventType} (statusSeq ${seq}) never reached the endpoint`,
            });
        }
      }
    }
  }
  return delivered;
}

/** Each expectation of each rule is met on the topic; no event appears under two ids. */
function checkProcessing(
  events: readonly ProcessingEvent[],
  facts: RunFacts,
  rules: readonly ProcessingRule[],
  report: (v: Violation) => void,
): void {
  const byMessage = Map.groupBy(
    events.filter((e) => e.messageId !== undefined),
    (e) => messageKey(e.controllerId, e.messageId!),
  );
  const reported = new Set<string>();
  for (const rule of rules) {
    for (const expected of rule.expectations(facts)) {
      const candidates = byMessage.get(messageKey(expected.controllerId, expected.messageId)) ?? [];
      const satisfying = distinctIds(candidates.filter(expected.satisfiedBy));
      const atLeast = expected.atLeast ?? 1;
      if (satisfying.length < atLeast)
        report({
          kind: 'processing_event_missing',
          controllerId: expected.controllerId,
          messageId: expected.messageId,
          rule: rule.name,
          ...(satisfying.length > 0 ? { eventIds: satisfying } : {}),
          detail: `no \`${rule.name}\` event for ${expected.what}${atLeast > 1 ? ` (${satisfying.length} of ${atLeast})` : ''}`,
        });
      if (!expected.once) continue;
      const once = distinctIds(candidates.filter(expected.once.matches));
      if (once.length > expected.once.limit) {
        for (const id of once) reported.add(id);
        report({
          kind: 'event_id_changed',
          controllerId: expected.controllerId,
          messageId: expected.messageId,
          rule: rule.name,
          eventIds: once,
          detail: `${expected.what} is recorded by ${once.length} events with different ids (at most ${expected.once.limit} expected)`,
        });
      }
    }
  }
  // Any event: the same content under a new id is a republished copy that lost its id.
  const byContent = Map.groupBy(events, contentKey);
  for (const copies of byContent.values()) {
    const copyIds = distinctIds(copies);
    if (copyIds.length < 2 || copyIds.every((id) => reported.has(id))) continue;
    const e = copies[0]!;
    report({
      kind: 'event_id_changed',
      ...ids(e.controllerId, e.messageId),
      eventIds: copyIds,
      detail: `one \`${e.operation}\` event (${e.service}) is on the topic under ${copyIds.length} event ids`,
    });
  }
}

const distinctIds = (events: readonly { eventId: string }[]) => [...new Set(events.map((e) => e.eventId))];

/** Everything but the event id, keys sorted: two records with one key are the same event. */
function contentKey(event: ProcessingEvent): string {
  const { eventId: _, ...rest } = event;
  return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b))));
}

/** The violations of one kind (for assertions). */
export function violationsOf(report: InvariantReport, kind: ViolationKind): Violation[] {
  return report.violations.filter((v) => v.kind === kind);
}

/** A short text of the report for a failing assertion: counts per kind, then the first violations. */
export function formatReport(report: InvariantReport, max = 20): string {
  if (report.ok) return 'no violations';
  const counts = Map.groupBy(report.violations, (v) => v.kind);
  const lines = [
    `${report.violations.length} violations: ${[...counts].map(([k, vs]) => `${k} ${vs.length}`).join(', ')}`,
  ];
  for (const v of report.violations.slice(0, max)) {
    const at = v.source ? `${v.source.topic}[${v.source.partition}]@${v.source.offset}` : '';
    const who = [v.controllerId, v.messageId].filter(Boolean).join('/') || at;
    lines.push(`- ${v.kind}${who ? ` ${who}` : ''}${v.endpointId ? ` @${v.endpointId}` : ''}: ${v.detail}`);
  }
  if (report.violations.length > max) lines.push(`… and ${report.violations.length - max} more`);
  return lines.join('\n');
}
