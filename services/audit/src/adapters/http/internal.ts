// Cell-internal routes of the audit service: what the control plane asks of the ledger for one
// controller, after its own token check (the control API proxies them; never expose `/internal/`
// outside the cell). The audit service owns the ledger, so it answers, not the control plane.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { LedgerExports, Period } from '../pg-export.ts';

export interface LedgerInternalRouteOptions {
  readonly exports: LedgerExports;
}

const CONTROLLER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The period of `?from=&to=` (both ISO 8601 times), or undefined when either is missing or invalid. */
function periodOf(query: unknown): Period | undefined {
  const { from, to } = (query ?? {}) as Record<string, unknown>;
  if (typeof from !== 'string' || typeof to !== 'string') return undefined;
  const period = { from: new Date(from), to: new Date(to) };
  return Number.isNaN(period.from.getTime()) || Number.isNaN(period.to.getTime()) ? undefined : period;
}

const invalid = (reply: FastifyReply, detail: string) => reply.code(400).send({ error: 'invalid', detail });

export const ledgerInternalRoutes: FastifyPluginAsync<LedgerInternalRouteOptions> = async (
  app,
  { exports },
) => {
  app.get('/internal/v1/verifier-key', async () => ({
    origin: exports.origin,
    verifierKey: exports.verifierKey,
  }));

  /** The newest signed checkpoint (deletion certificates name it), `{ checkpoint: null }` before one. */
  app.get('/internal/v1/checkpoint', async () => ({ checkpoint: await exports.latestCheckpoint() }));

  /**
   * The controller's export bundle: its bytes as they are (auditors hash them), with the entry count in
   * `massivesms-export-entries`; 409 `not_checkpointed` or 422 `too_large` as JSON otherwise.
   */
  app.get<{ Params: { controllerId: string } }>(
    '/internal/v1/controllers/:controllerId/audit-export',
    async (request, reply) => {
      const period = periodOf(request.query);
      if (!CONTROLLER_ID.test(request.params.controllerId)) return invalid(reply, 'controllerId');
      if (!period) return invalid(reply, 'from and to must be ISO 8601 times');
      const result = await exports.exportBundle(request.params.controllerId, period);
      if (result.kind === 'not_checkpointed') return reply.code(409).send({ kind: result.kind });
      if (result.kind === 'too_large')
        return reply.code(422).send({ kind: result.kind, entries: result.entries, max: result.max });
      return reply
        .type('application/json')
        .header('massivesms-export-entries', String(result.manifest.entries))
        .send(Buffer.from(result.bytes));
    },
  );

  app.get<{ Params: { controllerId: string } }>(
    '/internal/v1/controllers/:controllerId/processing-summary',
    async (request, reply) => {
      const period = periodOf(request.query);
      if (!CONTROLLER_ID.test(request.params.controllerId)) return invalid(reply, 'controllerId');
      if (!period) return invalid(reply, 'from and to must be ISO 8601 times');
      return exports.processingSummary(request.params.controllerId, period);
    },
  );
};
