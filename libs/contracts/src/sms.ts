import { z } from 'zod';
import { encryptedField, purposeSchema, regionSchema } from './events.ts';
import { instructionRefSchema } from './headers.ts';

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
  .max(128);
const timestamp = z.iso.datetime({ offset: true });
const pseudonym = z.string().regex(/^ps_[A-Za-z0-9_-]+$/);

/** `sms.dispatch.v1`: a validated, tagged message for the dispatcher. Personal fields are encrypted. */
export const dispatchRecordSchema = z
  .strictObject({
    messageId: id,
    controllerId: id,
    campaignId: id,
    purpose: purposeSchema,
    region: regionSchema,
    instruction: instructionRefSchema.describe('The instruction the message is processed under.'),
    recipient: encryptedField.describe('E.164 number, field `to` of record `messageId`.'),
    recipientPseudonym: pseudonym.describe('HMAC of the E.164 number with the controller pseudonym key.'),
    recipientCountry: z
      .string()
      .regex(/^[A-Z]{2}$/)
      .optional(),
    from: z
      .string()
      .min(1)
      .max(32)
      .describe("The controller's sender: E.164, short code or alphanumeric id."),
    senderKind: z.enum(['e164', 'short_code', 'alphanumeric']),
    body: encryptedField.describe('Message text, field `body` of record `messageId`.'),
    encoding: z.enum(['GSM-7', 'UCS-2']),
    segments: z.int().min(1),
    validUntil: timestamp.optional(),
    sendAfter: timestamp.optional().describe('Held for quiet hours: not before this instant.'),
    metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    acceptedAt: timestamp,
  })
  .describe('A message ready for a carrier (topic {cell}.sms.dispatch.v1, keyed by recipient pseudonym).');
export type DispatchRecord = z.infer<typeof dispatchRecordSchema>;

/** Kinds of suppression: a STOP at a carrier, or a data-subject restriction or objection. */
export const suppressionKinds = ['opt_out', 'restriction', 'objection'] as const;

/** `suppressions.v1`: one suppression fact; key `controllerId:pseudonym:kind`, latest value wins. */
export const suppressionEventSchema = z
  .strictObject({
    controllerId: id,
    subjectPseudonym: pseudonym,
    kind: z.enum(suppressionKinds),
    active: z.boolean().describe('false when lifted (START, restriction ended).'),
    source: z
      .string()
      .regex(/^[a-z][a-z0-9_.]*$/)
      .max(64)
      .describe('Where it came from, e.g. telnyx.inbound, twilio.inbound, dsr, operator.'),
    occurredAt: timestamp,
  })
  .describe('A suppression (topic {cell}.suppressions.v1).');
export type SuppressionEvent = z.infer<typeof suppressionEventSchema>;

/** The key of a suppression on its compacted topic. */
export function suppressionKey(
  e: Pick<SuppressionEvent, 'controllerId' | 'subjectPseudonym' | 'kind'>,
): string {
  return `${e.controllerId}:${e.subjectPseudonym}:${e.kind}`;
}
