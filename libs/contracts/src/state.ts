import { z } from 'zod';
import { encryptedField, regionSchema } from './events.ts';

// State topics (compacted, keyed by id): written only by the control plane, folded into a view by
// every other service (DESIGN.md §3.2). Each value carries a revision so a view never goes back.

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
  .max(128);
const timestamp = z.iso.datetime({ offset: true });
const wrappedKey = z.string().regex(/^wk\d+\.[A-Za-z0-9:._-]+\.[A-Za-z0-9_-]+$/);

/** The instruction a controller's records are processed under (the current published version). */
export const currentInstructionSchema = z.strictObject({
  id: id.describe('Instruction id, stable across versions.'),
  version: z.int().min(1),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  ref: z.string().describe('`id@version#sha256`, the value of the `instruction` record header.'),
  publishedAt: timestamp,
  document: z
    .record(z.string(), z.unknown())
    .describe('The instruction document as published (see libs/privacy).'),
});
export type CurrentInstruction = z.infer<typeof currentInstructionSchema>;

/** `controllers.v1`: a controller with its current instruction and its wrapped keys. */
export const controllerStateSchema = z
  .strictObject({
    controllerId: id,
    name: z.string().min(1).max(200),
    region: regionSchema,
    revision: z.int().min(1),
    keys: z
      .strictObject({ dataKey: wrappedKey, pseudonymKey: wrappedKey })
      .describe('Data and pseudonym keys wrapped by the KMS; unusable without it.'),
    instruction: currentInstructionSchema.nullable(),
    terminatedAt: timestamp
      .optional()
      .describe(
        "When the controller's service was terminated (DPA §11): no new message is accepted. Its data is deleted once the grace period ends, and this record then gives way to a tombstone.",
      ),
    updatedAt: timestamp,
  })
  .describe('A controller (topic {cell}.controllers.v1, keyed by controller id).');
export type ControllerState = z.infer<typeof controllerStateSchema>;

/** Webhook event types an endpoint can subscribe to. */
export const webhookEventTypes = [
  'message.accepted',
  'message.queued',
  'message.sent',
  'message.delivered',
  'message.undelivered',
  'message.failed',
  'message.rejected',
  'message.suppressed',
  'message.expired',
  'endpoint.failing',
  'endpoint.disabled',
  'endpoint.recovered',
] as const;
export const webhookEventTypeSchema = z.enum(webhookEventTypes);

/** `endpoints.v1`: a webhook endpoint; deleting it publishes a tombstone (null value). */
export const endpointStateSchema = z
  .strictObject({
    endpointId: id,
    controllerId: id,
    url: z.url(),
    eventTypes: z.array(webhookEventTypeSchema).min(1),
    enabled: z.boolean(),
    revision: z.int().min(1),
    secrets: z
      .array(
        z.strictObject({
          secretId: id,
          secret: encryptedField.describe(
            '`whsec_…` encrypted with the controller data key (field `secret:<secretId>`).',
          ),
          createdAt: timestamp,
          expiresAt: timestamp
            .nullable()
            .describe('Set during a rotation grace period; null for the newest.'),
        }),
      )
      .min(1),
    updatedAt: timestamp,
  })
  .describe('A webhook endpoint (topic {cell}.endpoints.v1, keyed by endpoint id).');
export type EndpointState = z.infer<typeof endpointStateSchema>;
