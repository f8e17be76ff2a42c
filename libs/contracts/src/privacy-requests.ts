import { z } from 'zod';
import { decodeJsonOrThrow, encodeJson } from './codec.ts';
import { eventIdFor } from './event-id.ts';
import { encryptedField, type ProcessingEvent, processingEventSchema, regionSchema } from './events.ts';
import { newTraceparent } from './headers.ts';
import { type Cell, consumerGroup, topicFor } from './topics.ts';

// Data-subject requests (DPA §8) travel as commands: the control plane accepts a request and
// publishes it on `{cell}.privacy.requests.v1`; every service that owns data about subjects acts on
// its own rows and answers on `{cell}.privacy.acks.v1`. No service reads another's tables.

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
  .max(128);
const timestamp = z.iso.datetime({ offset: true });
const pseudonym = z.string().regex(/^ps_[A-Za-z0-9_-]+$/);

/** Data-subject request types that fan out to the services (rectification is answered by control alone). */
export const subjectCommandTypes = ['access', 'erasure', 'restriction', 'objection'] as const;
/** Every command on the topic: a subject's requests, and a controller's termination (DPA §11). */
export const privacyCommandTypes = [...subjectCommandTypes, 'termination'] as const;
export type PrivacyCommandType = (typeof privacyCommandTypes)[number];

/** Services that own rows about data subjects and answer privacy commands. */
export const privacyServices = ['router', 'dispatcher', 'webhooks'] as const;
export type PrivacyService = (typeof privacyServices)[number];

/** One data-subject request for the services to act on. */
const subjectRequestSchema = z.strictObject({
  requestId: id.describe('Id of the data-subject request at the control plane.'),
  controllerId: id,
  region: regionSchema,
  type: z.enum(subjectCommandTypes),
  subjectPseudonym: pseudonym.describe('HMAC of the E.164 number with the controller pseudonym key.'),
  subject: encryptedField.describe(
    'The E.164 number, encrypted with the controller data key (record `requestId`, field `subject`).',
  ),
  requestedAt: timestamp,
});

/**
 * A controller's termination once its grace period ended (DPA §11): every service deletes what it
 * holds about the controller except opt-outs, and answers with what it deleted.
 */
const terminationRequestSchema = z.strictObject({
  requestId: id.describe('Id of the termination at the control plane.'),
  controllerId: id,
  region: regionSchema,
  type: z.literal('termination'),
  requestedAt: timestamp,
});

/** `privacy.requests.v1`: one data-subject request, or a controller's termination, for the services. */
export const privacyRequestSchema = z
  .discriminatedUnion('type', [subjectRequestSchema, terminationRequestSchema])
  .describe(
    'A data-subject request or a termination (topic {cell}.privacy.requests.v1, keyed by controller id and subject pseudonym, or controller id alone).',
  );
export type PrivacyRequest = z.infer<typeof privacyRequestSchema>;
/** A request about one data subject (everything but a termination). */
export type SubjectPrivacyRequest = Extract<PrivacyRequest, { subjectPseudonym: string }>;
/** A controller's termination. */
export type TerminationRequest = Extract<PrivacyRequest, { type: 'termination' }>;

/** `privacy.acks.v1`: one service's answer to one privacy command. */
export const privacyAckSchema = z
  .strictObject({
    ackId: id.describe('Derived from request and service: a repeated answer is the same answer.'),
    requestId: id,
    controllerId: id,
    region: regionSchema,
    service: z.enum(privacyServices),
    type: z.enum(privacyCommandTypes),
    outcome: z.enum(['done', 'failed']),
    export: encryptedField
      .optional()
      .describe(
        "Access: this service's part of the export as JSON, encrypted with the controller data key (record `requestId`, field `export:<service>`).",
      ),
    erased: z
      .record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.int().min(0))
      .optional()
      .describe('Erasure: rows erased (deleted or stripped of the subject) per table.'),
    retained: z
      .array(z.string().max(300))
      .max(20)
      .optional()
      .describe('What the service keeps about the subject on purpose, and why (no personal data).'),
    reason: z.string().max(500).optional().describe('Why it failed; never personal data.'),
    occurredAt: timestamp,
  })
  .describe(
    "A service's answer to a data-subject request (topic {cell}.privacy.acks.v1, keyed by request id).",
  );
export type PrivacyAck = z.infer<typeof privacyAckSchema>;

/** Where a subject's number sits in a privacy request (the ciphertext is bound to it). */
export function privacySubjectContext(controllerId: string, requestId: string) {
  return { controllerId, recordId: requestId, field: 'subject' } as const;
}

/** Where a service's export part sits in its acknowledgement. */
export function privacyExportContext(controllerId: string, requestId: string, service: PrivacyService) {
  return { controllerId, recordId: requestId, field: `export:${service}` } as const;
}

/**
 * Largest acknowledgement (JSON bytes) a service publishes: well under the broker's default record
 * batch limit (1 MiB), so several can share one produce request. A larger export fails the request.
 */
export const MAX_PRIVACY_ACK_BYTES = 256 * 1024;

/** What a service did about one privacy command (its acknowledgement, before ids and times). */
export type PrivacyResult = Pick<PrivacyAck, 'outcome' | 'export' | 'erased' | 'retained' | 'reason'>;

/** Rows erased per table as audit text (`; erased webhook_deliveries=3, …`): counts only. */
function erasedText(erased: Readonly<Record<string, number>> | undefined): string {
  const parts = Object.entries(erased ?? {}).map(([table, n]) => `${table}=${n}`);
  return parts.length ? `; erased ${parts.join(', ')}` : '';
}

/** A record for a producer or an outbox: topic, key, JSON value and headers. */
export interface PrivacyOutboxRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

/**
 * A service's acknowledgement of a privacy command and the processing event that audits it, to store
 * in the service's outbox in the transaction that did the work. Both ids derive from the request and
 * the service: answering a redelivered command again yields the same events, which consumers drop.
 */
export function privacyAckRecords(
  where: { readonly cell: Cell; readonly namespace: string },
  service: PrivacyService,
  request: PrivacyRequest,
  result: PrivacyResult,
  now: Date,
): PrivacyOutboxRecord[] {
  const base = {
    ackId: eventIdFor('privacy.ack', request.requestId, service),
    requestId: request.requestId,
    controllerId: request.controllerId,
    region: where.cell,
    service,
    type: request.type,
    occurredAt: now.toISOString(),
  };
  let ackValue = encodeJson(privacyAckSchema, { ...base, ...result });
  let outcome = result;
  if (ackValue.length > MAX_PRIVACY_ACK_BYTES) {
    // Too big for one record: the relay would retry it for ever and hold up the whole outbox.
    outcome = {
      outcome: 'failed',
      reason: `the export is ${ackValue.length} bytes; one acknowledgement carries at most ${MAX_PRIVACY_ACK_BYTES}`,
    };
    ackValue = encodeJson(privacyAckSchema, { ...base, ...outcome });
  }
  const event: ProcessingEvent = {
    eventId: eventIdFor('privacy.processing', request.requestId, service),
    occurredAt: now.toISOString(),
    service,
    operation: request.type === 'termination' ? 'termination.delete' : `dsr.${request.type}`,
    controllerId: request.controllerId,
    ...(request.type === 'termination' ? {} : { subjectPseudonym: request.subjectPseudonym }),
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    region: where.cell,
    outcome: outcome.outcome === 'done' ? 'performed' : 'failed',
    reason:
      `${request.type === 'termination' ? 'termination' : 'data-subject request'} ${request.requestId}${outcome.reason ? `: ${outcome.reason}` : ''}${erasedText(outcome.erased)}`.slice(
        0,
        500,
      ),
  };
  const headers = (schema: string) => ({
    region: where.cell,
    controller: request.controllerId,
    schema,
    traceparent: newTraceparent(),
  });
  return [
    {
      topic: topicFor(where.cell, 'privacy.acks.v1', where.namespace),
      key: request.requestId,
      value: ackValue,
      headers: headers('privacy.acks.v1'),
    },
    {
      topic: topicFor(where.cell, 'audit.processing.v1', where.namespace),
      key: request.controllerId,
      value: encodeJson(processingEventSchema, event),
      headers: headers('audit.processing.v1'),
    },
  ];
}

/**
 * How a service that owns personal data consumes data-subject requests and terminations: its own
 * consumer group on {cell}.privacy.requests.v1, undecodable requests to the cell's dead-letter topic,
 * each request answered in turn by the service's `answer`. A request that fails (keys unavailable,
 * database down) fails its batch, which is retried: an acknowledgement is never given for work not
 * done. Pass the result to the bus's `consume`.
 */
export function privacyRequestConsumer(options: {
  readonly service: PrivacyService;
  readonly cell: Cell;
  readonly namespace: string;
  readonly answer: (request: PrivacyRequest) => Promise<void>;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}) {
  return {
    groupId: consumerGroup(options.service, options.cell, options.namespace, 'privacy'),
    topics: [topicFor(options.cell, 'privacy.requests.v1', options.namespace)],
    deadLetterTopic: topicFor(options.cell, 'deadletter.v1', options.namespace),
    decode: (record: { readonly value: Uint8Array | null }): PrivacyRequest =>
      decodeJsonOrThrow(privacyRequestSchema, record.value),
    handleBatch: async (batch: { readonly records: readonly { readonly message: PrivacyRequest }[] }) => {
      for (const record of batch.records) await options.answer(record.message);
    },
    onBatchError: (
      error: unknown,
      where: { readonly topic: string; readonly partition: number; readonly attempt: number },
    ) =>
      options.warn(
        { err: error, topic: where.topic, partition: where.partition, attempt: where.attempt },
        'data-subject requests failed; retrying',
      ),
  };
}
