import { z } from 'zod';
import { regionSchema } from './events.ts';

const id = (what: string) =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, `${what} may contain letters, digits and . _ : - only`)
    .describe(what);
const timestamp = z.iso.datetime({ offset: true });

const commandBase = {
  commandId: id('Unique id of the command: the webhooks service carries out each one once.'),
  controllerId: id('Controller whose deliveries the command concerns; no other is touched.'),
  region: regionSchema,
  requestedBy: id('Token id of who asked (recorded in the audit trail).'),
  requestedAt: timestamp,
  endpointId: id('The endpoint the deliveries go to.'),
  endpointRevision: z
    .int()
    .min(1)
    .describe(
      "The endpoint's revision when the command was given: refused if the webhooks service disabled it at this revision or later.",
    ),
};

/**
 * `webhooks.commands.v1`: what the control plane asks of the webhooks service (which owns the
 * deliveries), keyed by controller id. No personal data.
 */
export const webhookCommandSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        kind: z.literal('resend'),
        ...commandBase,
        webhookId: id('The delivery to send again, with a fresh retry schedule and the same webhook-id.'),
      })
      .describe('Send one dead or delivered delivery again.'),
    z
      .strictObject({
        kind: z.literal('recover'),
        ...commandBase,
        since: timestamp.describe(
          'Every dead delivery to the endpoint created at or after it is sent again; those waiting for a retry go now.',
        ),
      })
      .describe("Send an endpoint's dead deliveries again."),
  ])
  .describe('A command to the webhooks service (topic {cell}.webhooks.commands.v1).');
export type WebhookCommand = z.infer<typeof webhookCommandSchema>;
