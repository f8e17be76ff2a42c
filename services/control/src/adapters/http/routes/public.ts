// Routes anyone may call, without a token: the public subprocessor list (DPA §6) and the audit
// ledger's verifier key (auditors pin it to check checkpoints and exports).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlService } from '../../../application/control-service.ts';
import { errors } from '../problems.ts';

export interface PublicRouteOptions {
  readonly service: ControlService;
  /** Public subprocessor list (DPA §6), generated from the registry in code. */
  readonly subprocessors: () => unknown[];
}

export const publicRoutes: FastifyPluginAsyncZod<PublicRouteOptions> = async (
  app,
  { service, subprocessors },
) => {
  app.get(
    '/v1/subprocessors',
    {
      schema: {
        summary: 'Public list of subprocessors (DPA §6), with notice and effective dates',
        tags: ['subprocessors'],
        response: { 200: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) },
      },
    },
    async () => ({ items: subprocessors() as Record<string, unknown>[] }),
  );

  app.get(
    '/v1/audit/verifier-key',
    {
      schema: {
        summary:
          "The cell's audit ledger verifier key (C2SP signed-note form): signed checkpoints and controller exports verify against it",
        tags: ['audit'],
        response: {
          200: z.object({
            origin: z.string().describe('The log origin: first line of every checkpoint, and the key name.'),
            verifierKey: z
              .string()
              .describe('`<origin>+<key id, 8 hex>+<base64(0x01 ‖ Ed25519 public key)>`'),
          }),
          ...errors('AUDIT_LEDGER_UNAVAILABLE'),
        },
      },
    },
    async () => service.auditVerifierKey(),
  );
};
