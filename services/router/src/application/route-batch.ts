import {
  type Cell,
  type ControllerState,
  type DispatchRecord,
  dispatchRecordSchema,
  encodeJson,
  eventIdFor,
  newTraceparent,
  type ProcessingEvent,
  processingEventSchema,
  recordHeaders,
  rejectionDigest,
  rejectionSchema,
  type StatusEvent,
  statusEventSchema,
  topicFor,
  traceparentSchema,
} from '@massivesms/contracts';
import {
  describeCause,
  type FailedRecord,
  type IncomingRecord,
  isRetryable,
  type OutgoingRecord,
  RecordFailedError,
} from '@massivesms/messaging';
import {
  type ControllerKeys,
  ControllerKeysDestroyedError,
  encryptField,
  pseudonymise,
  toControllerId,
  toE164,
} from '@massivesms/privacy';
import { scrubString } from '@massivesms/telemetry';
import { type Candidate, type Decision, decide, type Expiry, type Refusal } from '../domain/decide.ts';
import type { Claim, ControllerDirectory, RouterStore } from './ports.ts';

export interface RouteBatchDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly directory: ControllerDirectory;
  readonly store: RouterStore;
  readonly now: () => Date;
  readonly maxSegments: number;
}

/** What one batch did, for metrics and the demo's summary. */
export interface BatchOutcome {
  dispatched: number;
  suppressed: number;
  expired: number;
  rejected: Record<string, number>;
  duplicates: number;
  /**
   * Requests left out of the batch because their controller's keys could not be had: neither claimed
   * nor answered, for the consumer to retry or dead-letter (a key service outage is no rejection).
   */
  failed: FailedRecord[];
}

const PERSONAL = ['user.contact.phone_number', 'user.content.private'];

/**
 * Routes one partition's batch: decide each request, then — in one transaction — look up
 * suppressions, claim (controller, message id) so a replay produces nothing new, and produce every
 * output. The offsets are committed by the caller only after this resolves. A request whose
 * controller's keys cannot be obtained is left out and reported in `failed`.
 */
export async function routeBatch(
  deps: RouteBatchDeps,
  records: readonly IncomingRecord[],
): Promise<BatchOutcome> {
  const now = deps.now();
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(deps.cell, name, deps.namespace);
  const ctx = {
    cell: deps.cell,
    controller: (id: string) => deps.directory.get(id),
    now,
    maxSegments: deps.maxSegments,
  };

  // 1. Rules that need no database; keys and pseudonyms for what got through.
  const items: {
    record: IncomingRecord;
    decision: Decision;
    keys?: ControllerKeys;
    pseudonym?: string;
    e164?: string;
  }[] = [];
  const failed: FailedRecord[] = [];
  // A batch usually holds one controller's requests: its keys are looked up once per batch.
  const keysOf = new Map<string, Promise<ControllerKeys>>();
  for (const record of records) {
    let decision = decide(record.value, record.headers, ctx);
    let keys: ControllerKeys | undefined;
    let pseudonym: string | undefined;
    let e164: string | undefined;
    if (decision.kind === 'candidate') {
      const controllerId = decision.controller.controllerId;
      try {
        let pending = keysOf.get(controllerId);
        if (pending === undefined) {
          pending = deps.directory.keys(controllerId);
          keysOf.set(controllerId, pending);
        }
        keys = await pending;
      } catch (error) {
        if (!(error instanceof ControllerKeysDestroyedError)) {
          // The key service down or refusing: no fault of the request, so no answer yet.
          failed.push({ record, error: keysUnavailable(controllerId, error) });
          continue;
        }
        decision = {
          kind: 'reject',
          code: 'SMS_CONTROLLER_KEYS_UNAVAILABLE',
          reason: "the controller's keys were destroyed",
          request: decision.request,
          controller: decision.controller,
        };
      }
    }
    if (decision.kind === 'reject' && decision.controller?.region === deps.cell && decision.request) {
      // A rejected request is sealed under its controller's key when that key can be had; when it
      // cannot, the rejection keeps only a digest (the key service's trouble is no reason to retry).
      const controllerId = decision.controller.controllerId;
      let pending = keysOf.get(controllerId);
      if (pending === undefined) {
        pending = deps.directory.keys(controllerId);
        keysOf.set(controllerId, pending);
      }
      keys = await pending.catch(() => undefined);
    }
    if (keys && decision.kind === 'candidate') {
      e164 = decision.e164;
      pseudonym = pseudonymise(keys.pseudonymKey, toE164(e164));
    }
    items.push({ record, decision, ...(keys ? { keys } : {}), ...(pseudonym ? { pseudonym, e164 } : {}) });
  }

  return deps.store(async (tx) => {
    // 2. Suppressions of all candidates in one query.
    const suppressions = await tx.activeSuppressions(
      items.flatMap((i) =>
        i.decision.kind === 'candidate' && i.pseudonym
          ? [{ controllerId: i.decision.controller.controllerId, pseudonym: i.pseudonym }]
          : [],
      ),
    );
    // 3. Claims: each request once per controller; unattributable records once per source offset.
    const claims: Claim[] = [];
    const claimKey = (item: (typeof items)[number]): { controllerId: string; messageId: string } => {
      const d = item.decision;
      if (d.kind !== 'reject' || d.controller) {
        const request = d.kind === 'reject' ? d.request! : d.request;
        return { controllerId: request.controllerId, messageId: request.messageId };
      }
      return {
        controllerId: '-',
        messageId: `${item.record.topic}:${item.record.partition}:${item.record.offset}`,
      };
    };
    const outcomeOf = (item: (typeof items)[number]): Claim['outcome'] => {
      const d = item.decision;
      if (d.kind === 'reject') return 'rejected';
      if (d.kind === 'expire') return 'expired';
      return suppressions.has(`${d.controller.controllerId}:${item.pseudonym}`) ? 'suppressed' : 'dispatched';
    };
    for (const item of items) claims.push({ ...claimKey(item), outcome: outcomeOf(item) });
    const fresh = await tx.claim(claims, now);

    // 4. Outputs of the requests seen for the first time.
    const outcome: BatchOutcome = {
      dispatched: 0,
      suppressed: 0,
      expired: 0,
      rejected: {},
      duplicates: 0,
      failed,
    };
    const out: OutgoingRecord[] = [];
    const taken = new Set<string>();
    items.forEach((item, index) => {
      const claim = claims[index]!;
      const key = `${claim.controllerId}:${claim.messageId}`;
      if (!fresh.has(key) || taken.has(key)) {
        outcome.duplicates++;
        return;
      }
      taken.add(key);
      // A request without a trace starts one; checking an absent header through zod would build a
      // whole error (issues, paths) per request only to throw it away.
      const incoming = item.record.headers.traceparent;
      const traceparent =
        incoming !== undefined && traceparentSchema.safeParse(incoming).success ? incoming : newTraceparent();
      const d = item.decision;
      if (d.kind === 'reject') {
        outcome.rejected[d.code] = (outcome.rejected[d.code] ?? 0) + 1;
        out.push(...rejectionOutputs(deps, topic, item.record, d, item.keys, now, traceparent));
      } else if (d.kind === 'expire') {
        outcome.expired++;
        out.push(...expiryOutputs(deps, topic, d, now, traceparent));
      } else if (claim.outcome === 'suppressed') {
        outcome.suppressed++;
        const kind = suppressions.get(`${d.controller.controllerId}:${item.pseudonym}`)!;
        out.push(...suppressionOutputs(deps, topic, d, item.keys!, item.pseudonym!, kind, now, traceparent));
      } else {
        outcome.dispatched++;
        out.push(...dispatchOutputs(deps, topic, d, item.keys!, item.pseudonym!, now, traceparent));
      }
    });
    await tx.announce(out);
    return outcome;
  });
}

/**
 * The failure of a request whose controller's keys could not be obtained. Retryable unless the cause
 * says otherwise: a key service that is down now may answer in a moment; one that keeps failing
 * leaves the request on the dead-letter topic, to be replayed once the keys are available.
 */
function keysUnavailable(controllerId: string, cause: unknown): RecordFailedError {
  return new RecordFailedError(
    'PRIVACY_KEYS_UNAVAILABLE',
    `keys of controller ${controllerId} are not available (${describeCause(cause)})`,
    { retryable: isRetryable(cause), cause },
  );
}

type TopicOf = (name: Parameters<typeof topicFor>[1]) => string;

function status(
  deps: RouteBatchDeps,
  topic: TopicOf,
  controller: ControllerState,
  event: Omit<StatusEvent, 'eventId' | 'controllerId' | 'region' | 'statusSeq' | 'occurredAt'>,
  now: Date,
  traceparent: string,
): OutgoingRecord {
  const value: StatusEvent = {
    // Derived from the message: a request routed again (a replay, a commit lost after producing)
    // yields the same event, which consumers drop.
    eventId: eventIdFor('sms.status', controller.controllerId, event.messageId, 0),
    controllerId: controller.controllerId,
    region: deps.cell,
    statusSeq: 0,
    occurredAt: now.toISOString(),
    ...event,
  };
  return {
    topic: topic('sms.status.v1'),
    key: `${controller.controllerId}:${event.messageId}`,
    value: encodeJson(statusEventSchema, value),
    headers: { region: deps.cell, controller: controller.controllerId, traceparent, schema: 'sms.status.v1' },
  };
}

function processing(
  deps: RouteBatchDeps,
  topic: TopicOf,
  event: Omit<ProcessingEvent, 'eventId' | 'occurredAt' | 'service' | 'region'>,
  now: Date,
  traceparent: string,
): OutgoingRecord {
  const value: ProcessingEvent = {
    eventId: eventIdFor(
      'router',
      event.operation,
      event.controllerId,
      event.messageId ?? '',
      event.outcome,
      event.reason ?? '',
    ),
    occurredAt: now.toISOString(),
    service: 'router',
    region: deps.cell,
    ...event,
  };
  return {
    topic: topic('audit.processing.v1'),
    key: event.controllerId,
    value: encodeJson(processingEventSchema, value),
    headers: {
      region: deps.cell,
      controller: event.controllerId,
      traceparent,
      schema: 'audit.processing.v1',
    },
  };
}

function seal(keys: ControllerKeys, controllerId: string, messageId: string, field: string, text: string) {
  return encryptField(keys.dataKey, text, {
    controllerId: toControllerId(controllerId),
    recordId: messageId,
    field,
  });
}

function dispatchOutputs(
  deps: RouteBatchDeps,
  topic: TopicOf,
  c: Candidate,
  keys: ControllerKeys,
  pseudonym: string,
  now: Date,
  traceparent: string,
): OutgoingRecord[] {
  const r = c.request;
  const record: DispatchRecord = {
    messageId: r.messageId,
    controllerId: r.controllerId,
    campaignId: r.campaignId,
    purpose: r.purpose,
    region: deps.cell,
    instruction: c.instructionRef,
    recipient: seal(keys, r.controllerId, r.messageId, 'to', c.e164),
    recipientPseudonym: pseudonym,
    ...(c.country ? { recipientCountry: c.country } : {}),
    from: r.from,
    senderKind: c.senderKind,
    body: seal(keys, r.controllerId, r.messageId, 'body', r.body),
    encoding: c.encoding,
    segments: c.segments,
    ...(r.validUntil ? { validUntil: r.validUntil } : {}),
    ...(c.sendAfter ? { sendAfter: c.sendAfter.toISOString() } : {}),
    ...(r.metadata ? { metadata: r.metadata } : {}),
    acceptedAt: now.toISOString(),
  };
  return [
    {
      topic: topic('sms.dispatch.v1'),
      key: pseudonym, // a recipient's messages stay in order, and the key is no phone number
      value: encodeJson(dispatchRecordSchema, record),
      headers: recordHeaders({
        region: deps.cell,
        controller: r.controllerId,
        instruction: c.instructionRef,
        traceparent,
        schema: 'sms.dispatch.v1',
      }),
    },
    status(
      deps,
      topic,
      c.controller,
      {
        messageId: r.messageId,
        campaignId: r.campaignId,
        status: 'accepted',
        segments: c.segments,
        recipient: record.recipient,
      },
      now,
      traceparent,
    ),
    processing(
      deps,
      topic,
      {
        operation: 'route',
        controllerId: r.controllerId,
        messageId: r.messageId,
        subjectPseudonym: pseudonym,
        dataCategories: PERSONAL,
        purpose: r.purpose,
        instruction: c.instructionRef,
        outcome: 'performed',
        ...(c.sendAfter ? { reason: `held for quiet hours until ${c.sendAfter.toISOString()}` } : {}),
      },
      now,
      traceparent,
    ),
  ];
}

function suppressionOutputs(
  deps: RouteBatchDeps,
  topic: TopicOf,
  c: Candidate,
  keys: ControllerKeys,
  pseudonym: string,
  kind: string,
  now: Date,
  traceparent: string,
): OutgoingRecord[] {
  const r = c.request;
  return [
    status(
      deps,
      topic,
      c.controller,
      {
        messageId: r.messageId,
        campaignId: r.campaignId,
        status: 'suppressed',
        errorCode: `SMS_SUPPRESSED_${kind.toUpperCase()}`,
        reason: `recipient is under ${kind.replace('_', '-')}`,
        recipient: seal(keys, r.controllerId, r.messageId, 'to', c.e164),
      },
      now,
      traceparent,
    ),
    processing(
      deps,
      topic,
      {
        operation: 'route',
        controllerId: r.controllerId,
        messageId: r.messageId,
        subjectPseudonym: pseudonym,
        dataCategories: ['user.contact.phone_number'],
        purpose: r.purpose,
        instruction: c.instructionRef,
        outcome: 'denied',
        reason: `suppressed: ${kind}`,
      },
      now,
      traceparent,
    ),
  ];
}

function expiryOutputs(
  deps: RouteBatchDeps,
  topic: TopicOf,
  e: Expiry,
  now: Date,
  traceparent: string,
): OutgoingRecord[] {
  const r = e.request;
  return [
    status(
      deps,
      topic,
      e.controller,
      {
        messageId: r.messageId,
        campaignId: r.campaignId,
        status: 'expired',
        reason: 'validUntil passed before dispatch',
      },
      now,
      traceparent,
    ),
    processing(
      deps,
      topic,
      {
        operation: 'route',
        controllerId: r.controllerId,
        messageId: r.messageId,
        dataCategories: [],
        purpose: r.purpose,
        ...(e.controller.instruction ? { instruction: e.controller.instruction.ref } : {}),
        outcome: 'denied',
        reason: 'expired',
      },
      now,
      traceparent,
    ),
  ];
}

function sealRejected(keys: ControllerKeys, controllerId: string, messageId: string, value: Buffer) {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(value);
  const utf8 = Buffer.from(text, 'utf8').equals(value);
  return utf8
    ? seal(keys, controllerId, messageId, 'rejected', text)
    : seal(keys, controllerId, messageId, 'rejected.base64', value.toString('base64'));
}

function rejectionOutputs(
  deps: RouteBatchDeps,
  topic: TopicOf,
  record: IncomingRecord,
  d: Refusal,
  keys: ControllerKeys | undefined,
  now: Date,
  traceparent: string,
): OutgoingRecord[] {
  const value = record.value;
  const rejection = {
    // The record it answers identifies it: answered again after a replay, it is the same rejection.
    rejectionId: eventIdFor('sms.rejected', record.topic, record.partition, record.offset),
    code: d.code,
    ...(d.field ? { field: d.field } : {}),
    // Reasons name rules, not values; scrubbed all the same, as a decoder's message might quote input.
    reason: scrubString(d.reason).slice(0, 500),
    ...(d.request ? { controllerId: d.request.controllerId, messageId: d.request.messageId } : {}),
    region: deps.cell,
    source: { topic: record.topic, partition: record.partition, offset: record.offset },
    // No plaintext: a record of another region or of no known controller keeps only a digest, and the
    // record itself stays at `source` for as long as that topic retains it.
    ...(value !== null && keys && d.request
      ? { sealed: sealRejected(keys, d.request.controllerId, d.request.messageId, value) }
      : {}),
    ...(value !== null ? { digest: rejectionDigest(value) } : {}),
    occurredAt: now.toISOString(),
  };
  const out: OutgoingRecord[] = [
    {
      topic: topic('sms.rejected.v1'),
      key: d.request ? `${d.request.controllerId}:${d.request.messageId}` : null,
      value: encodeJson(rejectionSchema, rejection),
      headers: { region: deps.cell, traceparent, schema: 'sms.rejected.v1' },
    },
  ];
  if (d.controller && d.request) {
    out.push(
      status(
        deps,
        topic,
        d.controller,
        {
          messageId: d.request.messageId,
          campaignId: d.request.campaignId,
          status: 'rejected',
          errorCode: d.code,
          reason: d.reason.slice(0, 500),
        },
        now,
        traceparent,
      ),
    );
  }
  if (d.request) {
    // Deny by default leaves a trace naming the rule, also for a controller this cell does not know.
    out.push(
      processing(
        deps,
        topic,
        {
          operation: 'route',
          controllerId: d.request.controllerId,
          messageId: d.request.messageId,
          dataCategories: [],
          purpose: d.request.purpose,
          ...(d.controller?.instruction ? { instruction: d.controller.instruction.ref } : {}),
          outcome: 'denied',
          reason: d.code,
        },
        now,
        traceparent,
      ),
    );
  }
  return out;
}
