import {
  type Cell,
  type ControllerState,
  type DispatchRecord,
  encodeJson,
  eventIdFor,
  type ProcessingEvent,
  processingEventSchema,
  type StatusEvent,
  statusEventSchema,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import type { DecodedRecord, Headers, OutgoingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  DecryptionFailedError,
  decryptField,
  SUBPROCESSORS,
  type SubprocessorRegistry,
  subprocessorStatus,
  toControllerId,
} from '@massivesms/privacy';
import { scrubString, traceContextOf, withTraceOf } from '@massivesms/telemetry';
import type { Announce, NextStatus, ParkedMessage, PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import { buildCallbackUrl } from '../domain/callback.ts';
import { classifySendFailure, type SendFailureClass } from '../domain/classify.ts';
import { applyStatus } from '../domain/state-machine.ts';
import { BreakerOpenError, type CarrierBreaker } from './carrier-breaker.ts';
import type { CarrierName, CarrierPort, DispatchRow, SendOutcome } from './ports.ts';
import { type RateLimits, RateLimitWaitAbortedError } from './rate-limits.ts';
import { carrierOptOutEvent, sendProcessingEvent } from './send-events.ts';
import type { SendsInFlight } from './sends-in-flight.ts';
import { statusRecord } from './status-events.ts';

/**
 * Thrown to hold a partition while the controllers directory may still be catching up (nothing was
 * sent). Retried with backoff. A message no carrier can take now is parked instead (`dispatchBatch`).
 */
export class HoldError extends Error {
  override readonly name = 'HoldError';
  readonly code = 'DISPATCH_HELD';
  readonly retryable = true;
}

export interface DispatchDeps {
  readonly cell: Cell;
  readonly namespace: string;
  readonly now: () => Date;
  /** Public base URL of the receipt ingress; our message id goes into each callback path. */
  readonly publicBaseUrl: string;
  readonly controllers: {
    get(controllerId: string): ControllerState | undefined;
    keys(controllerId: string): Promise<ControllerKeys>;
  };
  readonly store: PgDispatchStore;
  readonly routes: Readonly<
    Record<CarrierName, { readonly port: CarrierPort; readonly breaker: CarrierBreaker }>
  >;
  /** Segments per second per carrier account and per sender; unset: no throttling (tests). */
  readonly rateLimits?: RateLimits;
  /** Aborted when the dispatcher stops: a rate-limit wait ends at once (nothing sent, claim released). */
  readonly signal?: AbortSignal;
  /** Where each carrier processes, per region (transfer mechanisms); default: the DPA's registry. */
  readonly subprocessors?: SubprocessorRegistry;
  /**
   * How long after the router accepted it a message may wait for a carrier (parked while none its
   * instruction allows can take it) before it is closed as failed, never sent. Default 24 h.
   */
  readonly maxCarrierWaitMs?: number;
  /** Where sends are registered until their outcome is stored (receipts that overtake them wait). */
  readonly inFlight?: SendsInFlight;
  /** Told of each message moved to its failover carrier (metrics). */
  readonly onFailover?: (from: CarrierName, to: CarrierName) => void;
}

/** See `DispatchDeps.maxCarrierWaitMs`. */
export const DEFAULT_MAX_CARRIER_WAIT_MS = 24 * 3_600_000;

const CARRIER_UNAVAILABLE = {
  status: 'failed' as const,
  errorCode: 'DISPATCH_CARRIER_UNAVAILABLE',
  reason: 'no carrier the instruction allows could take the message within the maximum wait',
};

/** Whether the message waited for a carrier as long as it may (from the router's acceptance). */
function waitedTooLong(deps: DispatchDeps, record: DispatchRecord, now: Date): boolean {
  const limit = deps.maxCarrierWaitMs ?? DEFAULT_MAX_CARRIER_WAIT_MS;
  return now.getTime() - Date.parse(record.acceptedAt) >= limit;
}

/** Messages claimed per statement: small, so a crash strands few claimed-but-unsent messages. */
const CLAIM_CHUNK = 10;

/** Messages of one partition's batch claimed and not yet settled (the next chunk is claimed meanwhile). */
const MAX_IN_FLIGHT = 3 * CLAIM_CHUNK;

/** One recipient's messages in a batch: sent one after the other (see dispatchBatch). */
interface RecipientQueue {
  tail: Promise<void>;
  /** Refused with nothing sent: the recipient's later messages are released and parked too. */
  held: boolean;
  /** A statement failed: the recipient's later messages stay claimed (the batch is retried). */
  failed: boolean;
}

/** A message a carrier refused with no failover is tried again after this (or when its breaker closes). */
const CARRIER_RETRY_MS = 2_000;

/**
 * How long a controller may be missing from the directory before its messages are refused: the
 * directory is caught up at start, so only a controller published moments ago can be missing for
 * a while; after that it was terminated (its keys are gone) and holding the partition would block
 * every other controller on it.
 */
const UNKNOWN_CONTROLLER_GRACE_MS = 60_000;

/** Why a message must not be sent at all (terminal `failed`, audited as denied). */
interface Refusal {
  readonly errorCode: string;
  readonly reason: string;
}

/**
 * The SMS route the instruction allows, primary first: carriers we have an adapter for that are
 * effective subprocessors now (DPA §6: nothing flows to one that is only noticed).
 */
function routeOf(controller: ControllerState, registry: SubprocessorRegistry, now: Date): CarrierName[] {
  const listed = (controller.instruction?.document.subprocessors ?? []) as string[];
  return listed.filter(
    (s): s is CarrierName =>
      (s === 'telnyx' || s === 'twilio') && subprocessorStatus(s, now, registry) === 'effective',
  );
}

/** Whether this cell may send the record at all; `hold` when the directory may still be catching up. */
function refusalOf(
  deps: DispatchDeps,
  record: DispatchRecord,
  controller: ControllerState | undefined,
  now: Date,
): Refusal | 'hold' | undefined {
  // Carrier hosts are per cell (EU traffic only reaches EU hosts): a record of another region is refused.
  if (record.region !== deps.cell || (controller && controller.region !== deps.cell))
    return { errorCode: 'SMS_WRONG_REGION', reason: `the message is not homed in the ${deps.cell} cell` };
  if (!controller) {
    if (now.getTime() - Date.parse(record.acceptedAt) < UNKNOWN_CONTROLLER_GRACE_MS) return 'hold';
    return { errorCode: 'SMS_UNKNOWN_CONTROLLER', reason: 'no controller with this id in this cell' };
  }
  // Terminated (DPA §11): a message routed before, or released from a hold after, is never sent.
  if (controller.terminatedAt !== undefined)
    return {
      errorCode: 'SMS_CONTROLLER_TERMINATED',
      reason: `the controller's service was terminated at ${controller.terminatedAt}`,
    };
  if (!controller.instruction)
    return { errorCode: 'SMS_NO_INSTRUCTION', reason: 'the controller has no instruction in force' };
  if (routeOf(controller, deps.subprocessors ?? SUBPROCESSORS, now).length === 0)
    return {
      errorCode: 'DISPATCH_NO_AUTHORISED_CARRIER',
      reason: 'the instruction authorises no effective SMS carrier',
    };
  return undefined;
}

/** What a batch left for later: the messages it parked (quiet hours, or waiting for a carrier). */
export interface DispatchResult {
  readonly parked: readonly { readonly controllerId: string; readonly messageId: string }[];
}

/**
 * Sends one partition's batch: pick each message's route (an open breaker moves it to the failover
 * the instruction allows), claim every message before any carrier call, send the claimed ones, and
 * record each outcome together with the events that announce it (the outbox: when this resolves,
 * every status and processing event of the batch is durable). A message that must wait (quiet
 * hours; no carrier its instruction allows can take it now) is parked for the scheduler, so it
 * never holds back other controllers' messages on its partition.
 */
export async function dispatchBatch(
  deps: DispatchDeps,
  records: readonly (Pick<DecodedRecord<DispatchRecord>, 'message'> & { readonly headers?: Headers })[],
): Promise<DispatchResult> {
  const now = deps.now();
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(deps.cell, name, deps.namespace);
  const open = (carrier: CarrierName) => deps.routes[carrier].breaker.state === 'open';
  // Events of messages stopped before any claim: they announce no stored change of ours.
  const refusals: OutgoingRecord[] = [];
  // Messages that must wait (quiet hours, or for a carrier): parked, out of the partition's way.
  const parked: ParkedMessage[] = [];
  const park = (record: DispatchRecord, dueAt: Date, waitingFor?: readonly CarrierName[]) =>
    parked.push({
      controllerId: record.controllerId,
      messageId: record.messageId,
      dueAt,
      record,
      ...(waitingFor ? { waitingFor } : {}),
    });

  const planned: Planned[] = [];
  for (const { message: record, headers } of records) {
    const controller = deps.controllers.get(record.controllerId);
    const refusal = refusalOf(deps, record, controller, now);
    if (refusal === 'hold') throw new HoldError('the controller is not in the directory yet');
    if (refusal) {
      refusals.push(
        ...refusalOutputs(
          deps,
          topic,
          record,
          { status: 'failed', ...refusal },
          refusal.reason,
          now,
          headers,
        ),
      );
      continue;
    }
    if (expired(record, now)) {
      refusals.push(...refusalOutputs(deps, topic, record, EXPIRED, EXPIRED.reason, now, headers));
      continue;
    }
    if (record.sendAfter && Date.parse(record.sendAfter) > now.getTime()) {
      park(record, new Date(record.sendAfter));
      continue;
    }
    const allowed = routeOf(controller!, deps.subprocessors ?? SUBPROCESSORS, now);
    const route = allowed.filter((c) => !open(c));
    // Every carrier it may use is down: it waits for one of them (no failover to an unlisted one),
    // for a bounded time.
    if (route.length > 0) planned.push({ record, route, allowed, headers });
    else if (waitedTooLong(deps, record, now))
      refusals.push(
        ...refusalOutputs(
          deps,
          topic,
          record,
          CARRIER_UNAVAILABLE,
          CARRIER_UNAVAILABLE.errorCode,
          now,
          headers,
        ),
      );
    else park(record, now, allowed);
  }
  // The global suppression list is checked before every attempt: a STOP that arrived after routing
  // still stops the send (carrier opt-outs do not cross carriers; ours does).
  const suppressed = await deps.store.activeSuppressions(
    planned.map(({ record }) => ({
      controllerId: record.controllerId,
      pseudonym: record.recipientPseudonym,
    })),
  );
  const sendable: Planned[] = [];
  for (const item of planned) {
    const { record } = item;
    const kind = suppressed.get(`${record.controllerId}:${record.recipientPseudonym}`);
    if (kind) {
      const status = {
        status: 'suppressed' as const,
        errorCode: `SMS_SUPPRESSED_${kind.toUpperCase()}`,
        reason: `recipient is under ${kind.replace('_', '-')}`,
      };
      refusals.push(...refusalOutputs(deps, topic, record, status, `suppressed: ${kind}`, now, item.headers));
      continue;
    }
    // Decrypted before the claim: a record that can never be read is refused, never claimed (a
    // claim would be reconciled as a send to a carrier that never received anything).
    const plain = await readable(deps, record);
    if (!plain) {
      const status = {
        status: 'failed' as const,
        errorCode: 'DISPATCH_UNDECRYPTABLE',
        reason: 'the recipient or body cannot be decrypted with the controller key',
      };
      refusals.push(...refusalOutputs(deps, topic, record, status, status.errorCode, now, item.headers));
      continue;
    }
    sendable.push({ ...item, plain });
  }
  await deps.store.writeEvents(refusals);
  // Released messages whose wait for a carrier is over (closed as failed, never sent).
  const gaveUp: OutgoingRecord[] = [];
  // Claim a few at a time, right before sending them, and claim the next chunk while earlier ones
  // are still with the carriers (at most MAX_IN_FLIGHT messages claimed and not settled): a crash
  // leaves only messages whose send had started, or was waiting its turn (rate limit, same
  // recipient), claimed without an outcome (those become `unknown`, never resent).
  const queues = new Map<string, RecipientQueue>();
  const tasks: Promise<void>[] = [];
  const settling = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  for (let c = 0; c < sendable.length && !failure; c += CLAIM_CHUNK) {
    while (settling.size > MAX_IN_FLIGHT - CLAIM_CHUNK) await Promise.race(settling);
    if (failure) break;
    const chunk = sendable.slice(c, c + CLAIM_CHUNK);
    const claimed = await deps.store.claim(
      chunk.map(({ record, route }) => ({
        controllerId: record.controllerId,
        messageId: record.messageId,
        campaignId: record.campaignId,
        carrier: route[0]!,
        recipientPseudonym: record.recipientPseudonym,
        instruction: record.instruction,
        sender: record.from,
        purpose: record.purpose,
      })),
      now,
    );
    // A record claimed before (a redelivery) is never sent again: its outcome and events were
    // committed together then, or it is still `sending` and reconciliation closes it.
    const fresh = new Map(claimed.map((row) => [`${row.controllerId}:${row.messageId}`, row]));
    for (const item of chunk) {
      const key = `${item.record.controllerId}:${item.record.messageId}`;
      const row = fresh.get(key);
      if (!row) continue; // claimed before (or earlier in this batch): never sent again
      fresh.delete(key);
      // Messages go to the carriers concurrently; those to one recipient stay in order.
      const recipient = item.record.recipientPseudonym;
      const queue = queues.get(recipient) ?? { tail: Promise.resolve(), held: false, failed: false };
      queues.set(recipient, queue);
      const task = queue.tail.then(async () => {
        if (queue.failed) return; // an earlier one failed: this one stays claimed, as if interrupted
        try {
          // After a hold, the rest of this recipient's messages are not attempted (released below).
          // In the trace of the record's processing: the carrier call and the events it announces.
          const release = queue.held
            ? { row, events: [] }
            : await withTraceOf(item.headers, () => sendTracked(deps, topic, item, row));
          if (!release) return;
          queue.held = true;
          // Nothing was sent for it: its claim is released (a stranded claim would never be sent)
          // and it is parked, to be tried again shortly or once a breaker lets it through.
          await deps.store.release(row.controllerId, row.messageId, row.attempt, release.events);
          const at = deps.now();
          if (waitedTooLong(deps, item.record, at))
            gaveUp.push(
              ...refusalOutputs(
                deps,
                topic,
                item.record,
                CARRIER_UNAVAILABLE,
                CARRIER_UNAVAILABLE.errorCode,
                at,
                item.headers,
              ),
            );
          else park(item.record, new Date(at.getTime() + CARRIER_RETRY_MS), item.allowed);
        } catch (error) {
          queue.failed = true;
          failure ??= { error };
        }
      });
      queue.tail = task;
      tasks.push(task);
      settling.add(task);
      void task.then(() => settling.delete(task));
    }
  }
  // Every send has settled before the batch fails: a retry must not race them.
  await Promise.all(tasks);
  if (failure) throw failure.error;
  await deps.store.writeEvents(gaveUp);
  await deps.store.park(parked);
  return { parked: parked.map(({ controllerId, messageId }) => ({ controllerId, messageId })) };
}

/** sendOne, registered in `deps.inFlight` until its outcome is stored. */
function sendTracked(...args: Parameters<typeof sendOne>): ReturnType<typeof sendOne> {
  const [deps, , , row] = args;
  const sending = sendOne(...args);
  return deps.inFlight ? deps.inFlight.track(row.controllerId, row.messageId, sending) : sending;
}

/** A message with the carriers its instruction allows now, primary first. */
interface Planned {
  readonly record: DispatchRecord;
  readonly route: CarrierName[];
  /** Every carrier the instruction allows now, open or not (what it waits for when parked). */
  readonly allowed: CarrierName[];
  /** The consumed record's headers (its trace context); none for a parked message. */
  readonly headers?: Headers | undefined;
  /** The recipient and body, decrypted just for the carrier call. */
  readonly plain?: { readonly to: string; readonly text: string };
}

const EXPIRED = {
  status: 'expired' as const,
  errorCode: 'SMS_EXPIRED',
  reason: 'validUntil passed before the message could be sent',
};

/** Whether the message's validity ended (at `now`): it must never be sent. */
function expired(record: DispatchRecord, now: Date): boolean {
  return record.validUntil !== undefined && Date.parse(record.validUntil) <= now.getTime();
}

/**
 * The recipient and body in clear, or undefined when they cannot be decrypted (tampered or not
 * this controller's key). A key that cannot be fetched (KMS down) throws: the batch is retried.
 */
async function readable(
  deps: DispatchDeps,
  record: DispatchRecord,
): Promise<{ to: string; text: string } | undefined> {
  const keys: ControllerKeys = await deps.controllers.keys(record.controllerId);
  const context = (field: string) => ({
    controllerId: toControllerId(record.controllerId),
    recordId: record.messageId,
    field,
  });
  try {
    return {
      to: decryptField(keys.dataKey, record.recipient, context('to')),
      text: decryptField(keys.dataKey, record.body, context('body')),
    };
  } catch (error) {
    if (error instanceof DecryptionFailedError) return undefined;
    throw error;
  }
}

/**
 * Sends one claimed message: through its claimed carrier, once more through the failover when the
 * first did not accept it (class A). Each outcome is stored with its status and processing events.
 * Returns the claim to release (with the events of its failed attempt) when no route took the
 * message: nothing was sent, the partition holds.
 */
async function sendOne(
  deps: DispatchDeps,
  topic: (name: 'sms.status.v1' | 'audit.processing.v1' | 'suppressions.v1') => string,
  { record, route, plain }: Planned,
  claimedRow: DispatchRow,
): Promise<{ row: DispatchRow; events: OutgoingRecord[] } | undefined> {
  const open = (carrier: CarrierName) => deps.routes[carrier].breaker.state === 'open';
  let row: DispatchRow = claimedRow;
  const extra = { recipient: record.recipient, segments: record.segments };

  for (let hop = 0; ; hop++) {
    const carrier: CarrierName = row.carrier;
    try {
      await deps.rateLimits?.wait(carrier, record.from, record.senderKind, record.segments, deps.signal);
    } catch (error) {
      // Stopping: nothing was sent, so the claim is released and the batch is not committed.
      if (error instanceof RateLimitWaitAbortedError) return { row, events: [] };
      throw error;
    }
    // The wait (rate limits, a held partition) may have outlived the message's validity.
    const now = deps.now();
    if (expired(record, now)) {
      await recordOutcome(deps.store, row, EXPIRED, now, (updated) => [
        statusRecord(deps, updated, now, extra),
        sendProcessingEvent(deps, record, updated, 'denied', EXPIRED.errorCode, now, false),
      ]);
      return undefined;
    }
    const outcome = await attempt(deps, carrier, {
      to: plain!.to,
      from: record.from,
      text: plain!.text,
      attempt: row.attempt,
      callbackUrl: buildCallbackUrl(deps.publicBaseUrl, {
        carrier,
        controllerId: record.controllerId,
        messageId: record.messageId,
      }),
      ...(record.validUntil ? { validitySeconds: validitySeconds(record.validUntil, now) } : {}),
    });
    const attemptRow = row;
    if (outcome.accepted) {
      await recordOutcome(
        deps.store,
        row,
        {
          status: 'queued',
          carrierMessageId: outcome.carrierMessageId,
          segments: outcome.segments ?? null,
        },
        now,
        (updated) => [statusRecord(deps, updated, now, extra)],
        [sendProcessingEvent(deps, record, attemptRow, 'performed', undefined, now)],
      );
      return undefined;
    }
    const verdict: SendFailureClass = classifySendFailure(outcome.failure);
    const failedAttempt = sendProcessingEvent(deps, record, attemptRow, 'failed', verdict.code, now);
    if (verdict.class === 'A_NOT_ACCEPTED') {
      if (verdict.retryAfterSeconds)
        deps.rateLimits?.pause(carrier, now.getTime() + verdict.retryAfterSeconds * 1000);
      const next = route.find((c) => c !== carrier && !open(c) && hop === 0);
      const moved = next
        ? await deps.store.failOver(row.controllerId, row.messageId, row.attempt, next, now, [failedAttempt])
        : undefined;
      if (moved) {
        deps.onFailover?.(carrier, moved.carrier);
        row = moved;
        continue;
      }
      return { row, events: [failedAttempt] }; // nothing was sent anywhere: the caller releases this claim
    }
    const final = verdict.class === 'C_AMBIGUOUS' ? 'unknown' : 'failed';
    const optOut: OutgoingRecord[] = [];
    if (verdict.class === 'D_PERMANENT' && verdict.suppress) {
      const event = {
        controllerId: record.controllerId,
        subjectPseudonym: record.recipientPseudonym,
        kind: 'opt_out' as const,
        active: true,
        source: `${carrier}.send`,
        occurredAt: now.toISOString(),
      };
      optOut.push(
        {
          topic: topic('suppressions.v1'),
          key: suppressionKey(event),
          value: encodeJson(suppressionEventSchema, event),
        },
        carrierOptOutEvent(deps, record, carrier, event.source, attemptRow.attempt, now),
      );
    }
    await recordOutcome(
      deps.store,
      row,
      // The reason quotes the carrier's error code, which is the carrier's text: stored and published,
      // so scrubbed of numbers and of this message's body, should the carrier echo either.
      { status: final, errorCode: verdict.code, reason: scrubString(verdict.reason, [plain!.text]) },
      now,
      (updated) => [statusRecord(deps, updated, now, extra)],
      [failedAttempt, ...optOut],
    );
    return undefined;
  }
}

/**
 * Seconds the carrier may keep trying, from `validUntil`: at least 1 (only called before the
 * message expired, so a value that rounds down to 0 still means "a moment").
 */
function validitySeconds(validUntil: string, now: Date): number {
  return Math.max(1, Math.floor((Date.parse(validUntil) - now.getTime()) / 1000));
}

/**
 * Records a send outcome through the state machine, with its events in the same statement. A
 * receipt can get there first (it carries our message id): then the stored status may already be
 * further along, and an outcome the state machine ignores is not recorded and its status not
 * announced; `always` (the processing events of the attempt) is written either way.
 */
async function recordOutcome(
  store: PgDispatchStore,
  claimed: DispatchRow,
  next: NextStatus,
  now: Date,
  announce: Announce,
  always: readonly OutgoingRecord[] = [],
): Promise<void> {
  let current: DispatchRow | undefined = claimed;
  for (let tries = 0; current && tries < 3; tries++) {
    const verdict = applyStatus(current, next.status);
    if (verdict.ignored) {
      const missingId = next.carrierMessageId && current.carrierMessageId === null;
      const updated = missingId
        ? await store.advance(
            current,
            { status: current.status, carrierMessageId: next.carrierMessageId ?? null },
            now,
            () => always,
          )
        : undefined;
      if (updated) return;
      if (!missingId) {
        await store.writeEvents(always);
        return;
      }
    } else {
      const updated = await store.advance(current, next, now, (row) => [...announce(row), ...always]);
      if (updated) return;
    }
    current = await store.get(claimed.controllerId, claimed.messageId);
  }
  // The message moved on without us three times (receipts racing the response): the attempt is
  // still a processing operation that happened.
  await store.writeEvents(always);
}

/** One carrier call through its breaker; an open breaker is "not accepted, nothing sent". */
async function attempt(
  deps: DispatchDeps,
  carrier: CarrierName,
  sms: Parameters<CarrierPort['send']>[0],
): Promise<SendOutcome> {
  const { port, breaker } = deps.routes[carrier];
  try {
    return await breaker.call(async () => {
      const outcome = await port.send(sms);
      // Failures that say the carrier is unhealthy must reach the breaker as rejections.
      if (!outcome.accepted && classifySendFailure(outcome.failure).countsAgainstBreaker)
        throw new CountedFailure(outcome);
      return outcome;
    });
  } catch (error) {
    if (error instanceof CountedFailure) return error.outcome;
    if (error instanceof BreakerOpenError)
      return { accepted: false, failure: { carrier, kind: 'connect_refused' } };
    throw error;
  }
}

/** Carries a failed outcome through opossum so the failure counts. */
class CountedFailure extends Error {
  readonly outcome: SendOutcome;
  readonly countsAgainstBreaker = true;
  constructor(outcome: SendOutcome) {
    super('carrier failure');
    this.outcome = outcome;
  }
}

/**
 * A message stopped before any carrier saw it (suppressed, expired or refused): its terminal status
 * and an audit event naming why. No dispatch row: nothing was claimed, so a redelivery decides
 * again — to the same outcome and the same event ids.
 */
function refusalOutputs(
  deps: DispatchDeps,
  topic: (name: 'sms.status.v1' | 'audit.processing.v1') => string,
  record: DispatchRecord,
  status: { status: 'suppressed' | 'failed' | 'expired'; errorCode: string; reason: string },
  auditReason: string,
  now: Date,
  /** The consumed record's headers: its trace continues in these events. */
  consumed?: Headers,
): OutgoingRecord[] {
  const event: StatusEvent = {
    eventId: eventIdFor('sms.status', record.controllerId, record.messageId, 1),
    messageId: record.messageId,
    controllerId: record.controllerId,
    campaignId: record.campaignId,
    region: deps.cell,
    ...status,
    statusSeq: 1,
    recipient: record.recipient,
    occurredAt: now.toISOString(),
  };
  const audit: ProcessingEvent = {
    eventId: eventIdFor('dispatcher', 'send', record.controllerId, record.messageId, 0, 'denied'),
    occurredAt: now.toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId: record.controllerId,
    messageId: record.messageId,
    subjectPseudonym: record.recipientPseudonym,
    dataCategories: ['user.contact.phone_number'],
    purpose: record.purpose,
    instruction: record.instruction,
    region: deps.cell,
    outcome: 'denied',
    reason: auditReason,
  };
  return [
    {
      topic: topic('sms.status.v1'),
      key: `${record.controllerId}:${record.messageId}`,
      value: encodeJson(statusEventSchema, event),
      headers: {
        region: deps.cell,
        controller: record.controllerId,
        schema: 'sms.status.v1',
        ...traceContextOf(consumed),
      },
    },
    {
      topic: topic('audit.processing.v1'),
      key: record.controllerId,
      value: encodeJson(processingEventSchema, audit),
      headers: {
        region: deps.cell,
        controller: record.controllerId,
        schema: 'audit.processing.v1',
        ...traceContextOf(consumed),
      },
    },
  ];
}
