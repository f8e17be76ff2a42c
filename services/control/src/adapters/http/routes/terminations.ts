// Termination (DPA §11): file it, follow it, download the return bundle during the grace period and
// the deletion certificate once the data is deleted.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Terminations } from '../../../application/terminations.ts';
import { errors } from '../problems.ts';
import { auth, controllerParams, id, principal } from '../schemas.ts';

const terminationView = z.object({
  controllerId: id,
  status: z
    .enum(['grace', 'deleting', 'completed', 'failed'])
    .describe(
      '`grace` until `deleteAfter` (download the return bundle); `deleting` while the services delete; `completed` once all did and the data key is destroyed; `failed` when one could not (file the termination again to retry).',
    ),
  requestedAt: z.string(),
  deleteAfter: z
    .string()
    .describe('When the deletion starts (CONTROL_TERMINATION_GRACE_DAYS after the request).'),
  deletionStartedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  expected: z.array(z.string()).describe('Services that must confirm their deletion (CONTROL_DSR_SERVICES).'),
  acknowledged: z.array(
    z.object({
      service: z.string(),
      outcome: z.enum(['done', 'failed']),
      erased: z.record(z.string(), z.int()).nullable().describe('Rows deleted per table.'),
      retained: z.array(z.string()).nullable().describe('What the service keeps on purpose, and why.'),
      reason: z.string().nullable(),
      receivedAt: z.string(),
    }),
  ),
  returnBundle: z.string().nullable().describe('Path of the return bundle; null once the data is deleted.'),
  certificate: z
    .object({ href: z.string(), sha256: z.string() })
    .nullable()
    .describe(
      'Path and SHA-256 of the deletion certificate, once completed; the audit ledger records the hash.',
    ),
});

/** Operator tokens or the controller's own token; another controller's id is answered 404. */
export const terminationRoutes: FastifyPluginAsyncZod<{ terminations: Terminations }> = async (
  app,
  { terminations },
) => {
  app.post(
    '/v1/controllers/:controllerId/termination',
    {
      schema: {
        summary: "Terminate the controller's service (DPA §11)",
        description: [
          'From now on no new message of the controller is accepted (`SMS_CONTROLLER_TERMINATED`). During the grace period (CONTROL_TERMINATION_GRACE_DAYS, 30 by default) the controller downloads its return bundle; then every service deletes what it holds about the controller, the data key is destroyed and a deletion certificate is issued and recorded in the audit ledger.',
          'Opt-outs (by pseudonym) and the audit ledger are kept, as DPA §11 allows. Filing again answers the same termination, or restarts a deletion that failed.',
        ].join('\n\n'),
        tags: ['termination'],
        security: auth,
        params: controllerParams,
        response: { 202: terminationView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await terminations.request(principal(request), request.params.controllerId)),
  );
  app.get(
    '/v1/controllers/:controllerId/termination',
    {
      schema: {
        summary: "Follow the controller's termination",
        tags: ['termination'],
        security: auth,
        params: controllerParams,
        response: { 200: terminationView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) => terminations.get(principal(request), request.params.controllerId),
  );
  app.get(
    '/v1/controllers/:controllerId/termination/return-bundle',
    {
      schema: {
        summary: 'Download the return bundle (until the data is deleted)',
        description:
          "JSON: the controller, its instruction versions, endpoints (without secrets), data-subject requests (numbers decrypted, unless erased), and the audit export of the controller's whole history (every operation on every message, verifiable offline as any audit export). Downloading it is audited.",
        tags: ['termination'],
        security: auth,
        params: controllerParams,
        response: {
          200: z.record(z.string(), z.unknown()),
          ...errors(
            'AUTH_REQUIRED',
            'NOT_FOUND',
            'TERMINATION_DATA_DELETED',
            'AUDIT_EXPORT_TOO_LARGE',
            'AUDIT_LEDGER_UNAVAILABLE',
          ),
        },
      },
    },
    async (request) => terminations.returnBundle(principal(request), request.params.controllerId),
  );
  app.get(
    '/v1/controllers/:controllerId/termination/deletion-certificate',
    {
      schema: {
        summary: 'Download the deletion certificate (once the deletion completed)',
        description:
          "JSON: what each service deleted (rows per table) and kept, when, the data key's destruction, the tombstones written, and the audit ledger's signed checkpoint at the time. Its SHA-256 over canonical JSON (RFC 8785) is recorded in the ledger (operation `termination.certificate`).",
        tags: ['termination'],
        security: auth,
        params: controllerParams,
        response: { 200: z.record(z.string(), z.unknown()), ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) => terminations.certificate(principal(request), request.params.controllerId),
  );
};
