import { randomUUID } from 'node:crypto';
import {
  type Cell,
  type ControllerState,
  type DispatchRecord,
  encodeJson,
  type ProcessingEvent,
  processingEventSchema,
  type StatusEvent,
  statusEventSchema,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import type { BusProducer, DecodedRecord, OutgoingRecord } from '@massivesms/messaging';
import {
  type ControllerKeys,
  decryptField,
  findSubprocessor,
  processesOutsideRegion,
  SUBPROCESSORS,
  type SubprocessorRegistry,
  subprocessorStatus,
  toControllerId,
} from '@massivesms/privacy';
import type { PgDispatchStore } from '../adapters/pg-dispatch-store.ts';
import { buildCallbackUrl } from '../domain/callback.ts';
import { classifySendFailure, type SendFailureClass } from '../domain/classify.ts';
import { applyStatus } from '../domain/state-machine.ts';
import { BreakerOpenError, type CarrierBreaker } from './carrier-breaker.ts';
import type { CarrierName, CarrierPort, DispatchRow, SendOutcome } from './ports.ts';
import type { RateLimits } from './rate-limits.ts';
import { statusRecord } from './status-events.ts';

/** Thrown to hold a partition: no route may take its messages now (nothing was sent). Retried with backoff. */
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
  readonly producer: BusProducer;
  /** Segments per second per carrier account and per sender; unset: no throttling (tests). */
  readonly rateLimits?: RateLimits;
  /** Where each carrier processes, per region (transfer mechanisms); default: the DPA's registry. */
  readonly subprocessors?: SubprocessorRegistry;
}

/** Messages claimed per statement: small, so a crash strands few claimed-but-unsent messages. */
const CLAIM_CHUNK = 10;

const PERSONAL = ['user.contact.phone_number', 'user.content.private'];

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
  if (!controller.instruction)
    return { errorCode: 'SMS_NO_INSTRUCTION', reason: 'the controller has no instruction in force' };
  if (routeOf(controller, deps.subprocessors ?? SUBPROCESSORS, now).length === 0)
    return {
      errorCode: 'DISPATCH_NO_AUTHORISED_CARRIER',
      reason: 'the instruction authorises no effective SMS carrier',
    };
  return undefined;
}

/**
 * Sends one partition's batch: pick each message's route (an open breaker moves it to the failover
 * the instruction allows, or holds the partition), claim every message before any carrier call,
 * send the claimed ones in order, record each outcome, then publish statuses and processing events.
 */
export async function dispatchBatch(
  deps: DispatchDeps,
  records: readonly DecodedRecord<DispatchRecord>[],
): Promise<void> {
  const now = deps.now();
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(deps.cell, name, deps.namespace);
  const open = (carrier: CarrierName) => deps.routes[carrier].breaker.state === 'open';
  const out: OutgoingRecord[] = [];

  const planned: Planned[] = [];
  for (const { message: record } of records) {
    const controller = deps.controllers.get(record.controllerId);
    const refusal = refusalOf(deps, record, controller, now);
    if (refusal === 'hold') throw new HoldError('the controller is not in the directory yet');
    if (refusal) {
      out.push(
        ...refusalOutputs(
          deps,
          topic,
          record,
          { status: 'failed', errorCode: refusal.errorCode, reason: refusal.reason },
          refusal.reason,
          now,
        ),
      );
      continue;
    }
    const route = routeOf(controller!, deps.subprocessors ?? SUBPROCESSORS, now).filter((c) => !open(c));
    if (route.length === 0) throw new HoldError('every carrier the instruction allows is unavailable');
    planned.push({ record, route });
  }
  // The global suppression list is checked before every attempt: a STOP that arrived after routing
  // still stops the send (carrier opt-outs do not cross carriers; ours does).
  const suppressed = await deps.store.activeSuppressions(
    planned.map(({ record }) => ({
      controllerId: record.controllerId,
      pseudonym: record.recipientPseudonym,
    })),
  );
  const sendable = planned.filter(({ record }) => {
    const kind = suppressed.get(`${record.controllerId}:${record.recipientPseudonym}`);
    if (kind)
      out.push(
        ...refusalOutputs(
          deps,
          topic,
          record,
          {
            status: 'suppressed',
            errorCode: `SMS_SUPPRESSED_${kind.toUpperCase()}`,
            reason: `recipient is under ${kind.replace('_', '-')}`,
          },
          `suppressed: ${kind}`,
          now,
        ),
      );
    return kind === undefined;
  });
  // Claim a few at a time, right before sending them: a crash leaves at most one chunk per
  // partition claimed but never attempted (those become `unknown`, never resent).
  for (let c = 0; c < sendable.length; c += CLAIM_CHUNK) {
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
      })),
      now,
    );
    const fresh = new Map(claimed.map((row) => [`${row.controllerId}:${row.messageId}`, row]));
    // Records claimed before: a crash may have come between recording their status and publishing
    // it. Publish it again (same statusSeq: consumers drop the duplicate); never send again.
    const seenBefore = chunk.filter(({ record }) => !fresh.has(`${record.controllerId}:${record.messageId}`));
    if (seenBefore.length > 0) {
      const existing = await deps.store.getMany(seenBefore.map(({ record }) => record));
      for (const row of existing) {
        const original = seenBefore.find(
          ({ record }) => record.controllerId === row.controllerId && record.messageId === row.messageId,
        );
        if (row.status !== 'sending' && original)
          out.push(
            statusRecord(deps, row, now, {
              recipient: original.record.recipient,
              segments: original.record.segments,
            }),
          );
      }
    }

    // One claim per message: a duplicate of a record later in the same batch finds none.
    const toSend: { planned: Planned; row: DispatchRow }[] = [];
    for (const item of chunk) {
      const key = `${item.record.controllerId}:${item.record.messageId}`;
      const row = fresh.get(key);
      if (!row) continue; // claimed before (or earlier in this batch): never sent again
      fresh.delete(key);
      toSend.push({ planned: item, row });
    }
    // The chunk's messages go to the carriers concurrently; those to one recipient stay in order.
    const byRecipient = Map.groupBy(toSend, ({ planned }) => planned.record.recipientPseudonym);
    const results = await Promise.all(
      [...byRecipient.values()].map(async (queue) => {
        const held: DispatchRow[] = [];
        for (const item of queue) {
          // After a hold, the rest of this recipient's queue is not attempted (released below).
          const release =
            held.length > 0 ? item.row : await sendOne(deps, topic, item.planned, item.row, now, out);
          if (release) held.push(release);
        }
        return held;
      }),
    );
    const held = results.flat();
    if (held.length > 0) {
      // Nothing was sent for these: release their claims so the held partition sends them later
      // (a stranded claim would never be sent). The chunks after this one were never claimed.
      for (const row of held) await deps.store.release(row.controllerId, row.messageId, row.attempt);
      await deps.producer.send(out);
      throw new HoldError('a carrier did not accept a message and no failover is available');
    }
  }
  await deps.producer.send(out);
}

/** A message with the carriers its instruction allows now, primary first. */
interface Planned {
  readonly record: DispatchRecord;
  readonly route: CarrierName[];
}

/**
 * Sends one claimed message: through its claimed carrier, once more through the failover when the
 * first did not accept it (class A). Appends its statuses and processing events to `out`.
 * Returns the claim to release when no route took the message (nothing was sent: hold).
 */
async function sendOne(
  deps: DispatchDeps,
  topic: (name: 'sms.status.v1' | 'audit.processing.v1' | 'suppressions.v1') => string,
  { record, route }: Planned,
  claimedRow: DispatchRow,
  now: Date,
  out: OutgoingRecord[],
): Promise<DispatchRow | undefined> {
  const open = (carrier: CarrierName) => deps.routes[carrier].breaker.state === 'open';
  let row: DispatchRow = claimedRow;
  const keys = await deps.controllers.keys(record.controllerId);
  const context = (field: string) => ({
    controllerId: toControllerId(record.controllerId),
    recordId: record.messageId,
    field,
  });
  const to = decryptField(keys.dataKey, record.recipient, context('to'));
  const text = decryptField(keys.dataKey, record.body, context('body'));

  for (let hop = 0; ; hop++) {
    const carrier: CarrierName = row.carrier;
    await deps.rateLimits?.wait(carrier, record.from, record.senderKind, record.segments);
    const outcome = await attempt(deps, carrier, {
      to,
      from: record.from,
      text,
      attempt: row.attempt,
      callbackUrl: buildCallbackUrl(deps.publicBaseUrl, {
        carrier,
        controllerId: record.controllerId,
        messageId: record.messageId,
      }),
      ...(record.validUntil
        ? { validitySeconds: Math.floor((Date.parse(record.validUntil) - now.getTime()) / 1000) }
        : {}),
    });
    if (outcome.accepted) {
      const recorded = await recordOutcome(
        deps.store,
        row,
        {
          status: 'queued',
          carrierMessageId: outcome.carrierMessageId,
          segments: outcome.segments ?? null,
        },
        now,
      );
      if (recorded)
        out.push(
          statusRecord(deps, recorded, now, { recipient: record.recipient, segments: record.segments }),
        );
      out.push(processing(deps, topic, record, carrier, 'performed', undefined, now));
      return undefined;
    }
    const verdict: SendFailureClass = classifySendFailure(outcome.failure);
    out.push(processing(deps, topic, record, carrier, 'failed', verdict.code, now));
    if (verdict.class === 'A_NOT_ACCEPTED') {
      if (verdict.retryAfterSeconds)
        deps.rateLimits?.pause(carrier, now.getTime() + verdict.retryAfterSeconds * 1000);
      const next = route.find((c) => c !== carrier && !open(c) && hop === 0);
      const moved = next
        ? await deps.store.failOver(row.controllerId, row.messageId, row.attempt, next, now)
        : undefined;
      if (moved) {
        row = moved;
        continue;
      }
      return row; // nothing was sent anywhere: the caller releases this claim
    }
    const final = verdict.class === 'C_AMBIGUOUS' ? 'unknown' : 'failed';
    const recorded = await recordOutcome(
      deps.store,
      row,
      { status: final, errorCode: verdict.code, reason: verdict.reason },
      now,
    );
    if (recorded)
      out.push(statusRecord(deps, recorded, now, { recipient: record.recipient, segments: record.segments }));
    if (verdict.class === 'D_PERMANENT' && verdict.suppress) {
      const event = {
        controllerId: record.controllerId,
        subjectPseudonym: record.recipientPseudonym,
        kind: 'opt_out' as const,
        active: true,
        source: `${carrier}.send`,
        occurredAt: now.toISOString(),
      };
      out.push({
        topic: topic('suppressions.v1'),
        key: suppressionKey(event),
        value: encodeJson(suppressionEventSchema, event),
      });
    }
    return undefined;
  }
}

/**
 * Records a send outcome through the state machine. A receipt can get there first (it carries our
 * message id): then the stored status may already be further along, and an outcome the state
 * machine ignores is neither recorded nor published. Returns the row when the status changed.
 */
async function recordOutcome(
  store: PgDispatchStore,
  claimed: DispatchRow,
  next: {
    status: DispatchRow['status'];
    carrierMessageId?: string;
    segments?: number | null;
    errorCode?: string;
    reason?: string;
  },
  now: Date,
): Promise<DispatchRow | undefined> {
  let current: DispatchRow | undefined = claimed;
  for (let tries = 0; current && tries < 3; tries++) {
    const verdict = applyStatus(current, next.status);
    if (verdict.ignored) {
      if (next.carrierMessageId && current.carrierMessageId === null) {
        await store.advance(
          current,
          { status: current.status, carrierMessageId: next.carrierMessageId },
          now,
        );
      }
      return undefined;
    }
    const updated = await store.advance(current, next, now);
    if (updated) return updated;
    current = await store.get(claimed.controllerId, claimed.messageId);
  }
  return undefined;
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
 * A message stopped before any carrier saw it (suppressed, or refused): its terminal status and an
 * audit event naming why. No dispatch row: nothing was claimed, so a redelivery decides again.
 */
function refusalOutputs(
  deps: DispatchDeps,
  topic: (name: 'sms.status.v1' | 'audit.processing.v1') => string,
  record: DispatchRecord,
  status: { status: 'suppressed' | 'failed'; errorCode: string; reason: string },
  auditReason: string,
  now: Date,
): OutgoingRecord[] {
  const event: StatusEvent = {
    eventId: randomUUID(),
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
    eventId: randomUUID(),
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
      headers: { region: deps.cell, controller: record.controllerId, schema: 'sms.status.v1' },
    },
    {
      topic: topic('audit.processing.v1'),
      key: record.controllerId,
      value: encodeJson(processingEventSchema, audit),
      headers: { region: deps.cell, controller: record.controllerId, schema: 'audit.processing.v1' },
    },
  ];
}

function processing(
  deps: DispatchDeps,
  topic: (name: 'audit.processing.v1') => string,
  record: DispatchRecord,
  carrier: CarrierName,
  outcome: ProcessingEvent['outcome'],
  reason: string | undefined,
  now: Date,
): OutgoingRecord {
  // DPA §7: an attempt processed outside the controller's home region names its safeguard.
  const entry = findSubprocessor(carrier, deps.subprocessors ?? SUBPROCESSORS);
  const transfer =
    entry && processesOutsideRegion(entry, deps.cell) ? entry.transferMechanisms.join('; ') : undefined;
  const event: ProcessingEvent = {
    eventId: randomUUID(),
    occurredAt: now.toISOString(),
    service: 'dispatcher',
    operation: 'send',
    controllerId: record.controllerId,
    messageId: record.messageId,
    subjectPseudonym: record.recipientPseudonym,
    dataCategories: PERSONAL,
    purpose: record.purpose,
    instruction: record.instruction,
    region: deps.cell,
    subprocessor: carrier, // the subprocessor actually used for this attempt (DPA §6)
    ...(transfer ? { transferMechanism: transfer } : {}),
    outcome,
    ...(reason ? { reason } : {}),
  };
  return {
    topic: topic('audit.processing.v1'),
    key: record.controllerId,
    value: encodeJson(processingEventSchema, event),
    headers: { region: deps.cell, controller: record.controllerId, schema: 'audit.processing.v1' },
  };
}
