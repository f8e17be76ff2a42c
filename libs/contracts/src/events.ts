import { z } from 'zod';
import { personalDataIn } from './personal-data.ts';
import { cells } from './topics.ts';

// Shared building blocks. Identifiers are opaque but restricted to a safe alphabet so they can sit in
// Kafka headers, URLs and log lines without escaping.
const id = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, `${what} may contain letters, digits and . _ : - only`)
    .describe(what);

/** ISO-8601 timestamp with an explicit offset, as every event uses. */
const timestamp = z.iso.datetime({ offset: true });

/** A value sealed by libs/privacy field encryption (`v1.<iv>.<ciphertext>`); never plaintext. */
export const encryptedField = z
  .string()
  .regex(/^v\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be an encrypted field value')
  .describe('Personal data encrypted with the controller data key (AES-256-GCM), bound to record and field.');

export const regionSchema = z.enum(cells).describe('Data region (cell) of the controller.');

/** Purposes follow the fideslang taxonomy, e.g. `essential.service.notifications.sms`. */
export const purposeSchema = z
  .string()
  .min(1)
  .max(120)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, 'purpose must be a dotted fideslang name')
  .describe('Processing purpose (fideslang data use), checked against the controller instruction.');

/** Message statuses (DESIGN.md §4). `unknown` is never terminal. */
export const messageStatuses = [
  'accepted',
  'queued',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'rejected',
  'suppressed',
  'expired',
  'unknown',
] as const;
export const messageStatusSchema = z.enum(messageStatuses);
export type MessageStatus = z.infer<typeof messageStatusSchema>;

/** Statuses after which nothing changes for a message. */
export const terminalStatuses: ReadonlySet<MessageStatus> = new Set([
  'delivered',
  'undelivered',
  'failed',
  'rejected',
  'suppressed',
  'expired',
]);

export const carrierSchema = z.enum(['telnyx', 'twilio']);

/**
 * Refuses metadata holding a phone number or an e-mail address. The issue names neither the key nor
 * the value (either may be the personal data) and carries its own code, for `decodeJson`.
 */
function noPersonalData(metadata: Record<string, string | number | boolean>, ctx: z.RefinementCtx): void {
  for (const [key, value] of Object.entries(metadata)) {
    const found = personalDataIn(key) ?? (typeof value === 'string' ? personalDataIn(value) : undefined);
    if (found) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `metadata holds personal data (${found.replace('_', ' ')}); it must hold none`,
        params: { errorCode: 'SMS_METADATA_PERSONAL_DATA' },
      });
      return;
    }
  }
}

/** `sms.requested.v1`: one SMS request, written by the campaign API. */
export const smsRequestSchema = z
  .strictObject({
    messageId: id('Producer message id, unique per controller: the idempotency key.'),
    controllerId: id('Controller (customer) id.'),
    campaignId: id('Campaign id.'),
    purpose: purposeSchema,
    to: z.string().min(1).max(32).describe('Recipient number; normalised to E.164 by the router.'),
    from: z.string().min(1).max(32).describe('Sender: E.164 number, short code or alphanumeric sender id.'),
    body: z.string().min(1).max(1600).describe('Message text (at most 1,600 characters).'),
    validUntil: timestamp.optional().describe('Do not send after this instant; the message expires.'),
    metadata: z
      .record(z.string().min(1).max(64), z.union([z.string().max(256), z.number(), z.boolean()]))
      .refine((m) => Object.keys(m).length <= 20, 'at most 20 metadata keys')
      .superRefine(noPersonalData)
      .optional()
      .describe(
        'Small producer metadata, echoed in status events. Must not contain personal data: a key or value holding a phone number (any written form) or an e-mail address is refused (`SMS_METADATA_PERSONAL_DATA`).',
      ),
  })
  .describe('An SMS request (topic {cell}.sms.requested.v1).');
export type SmsRequest = z.infer<typeof smsRequestSchema>;

/** `sms.status.v1`: one status change of one message. */
export const statusEventSchema = z
  .strictObject({
    eventId: id('Unique id of this status event.'),
    messageId: id('Producer message id.'),
    controllerId: id('Controller id.'),
    campaignId: id('Campaign id.'),
    region: regionSchema,
    status: messageStatusSchema,
    statusSeq: z.int().min(0).describe('Monotonic per message: a consumer ignores a lower sequence.'),
    carrier: carrierSchema.optional().describe('Subprocessor that carried the message, once chosen.'),
    carrierMessageId: z.string().min(1).max(128).optional(),
    segments: z.int().min(1).max(10).optional(),
    errorCode: z.string().min(1).max(64).optional().describe('Stable error code (see docs/errors.md).'),
    reason: z.string().max(500).optional().describe('Human-readable reason; never contains personal data.'),
    recipient: encryptedField.optional(),
    occurredAt: timestamp,
  })
  .describe('A message status change (topic {cell}.sms.status.v1).');
export type StatusEvent = z.infer<typeof statusEventSchema>;

/** `sms.rejected.v1`: a request that could not be accepted, with the reason; nothing is dropped. */
export const rejectionSchema = z
  .strictObject({
    rejectionId: id('Unique id of this rejection.'),
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]+$/)
      .describe('Stable error code.'),
    field: z.string().max(200).optional().describe('JSON path of the offending field, when one is at fault.'),
    reason: z.string().min(1).max(500),
    controllerId: id('Controller id, when it could be read.').optional(),
    messageId: id('Message id, when it could be read.').optional(),
    region: regionSchema,
    source: z.strictObject({
      topic: z.string().min(1),
      partition: z.int().min(0),
      offset: z.string().regex(/^\d+$/),
    }),
    sealed: encryptedField
      .optional()
      .describe(
        "The record value as sent (UTF-8, or base64 with field `rejected.base64` when it is no UTF-8), encrypted under the controller's data key (field `rejected`, record `messageId`): only when the controller is known in this cell, the record is homed here and the key could be had.",
      ),
    digest: z
      .strictObject({
        alg: z.literal('hmac-sha256'),
        salt: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
        value: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
      })
      .optional()
      .describe(
        'HMAC-SHA256 of the record value keyed by a random salt (base64url): proves that the record read back at `source` is the one rejected, without keeping it. Absent for a record with no value.',
      ),
    occurredAt: timestamp,
  })
  .describe(
    'A rejected request (topic {cell}.sms.rejected.v1): a stable code, the offending field and a reason. No plaintext personal data: the record itself stays at `source` (as long as that topic retains it), sealed here only under its own controller key.',
  );
export type Rejection = z.infer<typeof rejectionSchema>;

/** Outcome of an operation on personal data, as recorded in the audit trail. */
export const processingOutcomes = ['performed', 'denied', 'failed'] as const;

/** `audit.processing.v1`: one operation on personal data. No plaintext personal data. */
export const processingEventSchema = z
  .strictObject({
    eventId: id('Unique id of this processing event.'),
    occurredAt: timestamp,
    service: z.enum(['control', 'router', 'dispatcher', 'webhooks', 'audit']),
    operation: z
      .string()
      .regex(/^[a-z][a-z0-9_.]*$/)
      .max(64)
      .describe('What was done, e.g. route, send, receipt, webhook.deliver, dsr.erase.'),
    controllerId: id('Controller id.'),
    messageId: id('Message id, when the operation concerns one message.').optional(),
    subjectPseudonym: z
      .string()
      .regex(/^ps_[A-Za-z0-9_-]+$/)
      .optional()
      .describe('Keyed pseudonym (HMAC-SHA256) of the data subject; never the number.'),
    dataCategories: z.array(z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/)).max(20),
    purpose: purposeSchema.optional(),
    instruction: z.string().max(200).optional().describe('Instruction reference `id@version#sha256`.'),
    region: regionSchema,
    subprocessor: z.string().max(64).optional(),
    transferMechanism: z.string().max(64).optional(),
    actor: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
      .max(128)
      .optional()
      .describe('Who asked for the operation (token id or service), for configuration changes.'),
    outcome: z.enum(processingOutcomes),
    reason: z.string().max(500).optional().describe('Rule or error that decided the outcome.'),
  })
  .describe('A processing event (topic {cell}.audit.processing.v1).');
export type ProcessingEvent = z.infer<typeof processingEventSchema>;

/** `audit.checkpoints.v1`: a signed tree head of a cell's audit ledger. */
export const auditCheckpointSchema = z
  .strictObject({
    origin: z.string().min(1).max(200).describe('The log origin, first line of the checkpoint.'),
    treeSize: z.number().int().min(1).describe('Entries the tree covers (ledger seq 1 … treeSize).'),
    rootHash: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/)
      .describe('Base64 of the RFC 6962 Merkle tree hash over those entries.'),
    note: z
      .string()
      .max(4_000)
      .describe('The C2SP signed note: checkpoint text, blank line, Ed25519 signature lines.'),
    verifierKey: z.string().max(300).describe('The signed-note verifier key that signed it.'),
    signedAt: timestamp,
  })
  .describe('A signed checkpoint of the audit ledger (topic {cell}.audit.checkpoints.v1).');
export type AuditCheckpoint = z.infer<typeof auditCheckpointSchema>;
