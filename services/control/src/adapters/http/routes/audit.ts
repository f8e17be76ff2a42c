// A controller's audit export (DPA §10) and record of processing (Art. 30(2)), from the audit ledger.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlService } from '../../../application/control-service.ts';
import { errors } from '../problems.ts';
import { auth, id, isoTime, principal } from '../schemas.ts';

const periodQuery = z.strictObject({
  from: isoTime
    .optional()
    .describe('ISO 8601 time; processing that occurred at or after it (default: 30 days before `to`).'),
  to: isoTime.optional().describe('ISO 8601 time; processing before it (default: now).'),
});

function periodOf(query: { from?: string | undefined; to?: string | undefined }) {
  const to = query.to === undefined ? new Date() : new Date(query.to);
  const from = query.from === undefined ? new Date(to.getTime() - 30 * 86_400_000) : new Date(query.from);
  return { from, to };
}

function subprocessorUseView() {
  return z.object({
    name: z.string(),
    legalEntity: z.string().nullable(),
    purpose: z.string().nullable(),
    region: z.string(),
    location: z.string().nullable(),
    country: z.string().nullable(),
    transferMechanism: z.string().nullable(),
    operations: z.int(),
  });
}

const processingRecordView = z.object({
  controller: z.object({ id: z.string(), name: z.string(), region: z.string() }),
  processor: z.object({ name: z.string(), role: z.literal('processor') }),
  period: z.object({ from: z.string(), to: z.string() }),
  source: z
    .object({
      ledger: z.string().describe("The ledger's log origin (its signed checkpoints name it)."),
      entries: z.int(),
      firstSeq: z.int().nullable(),
      lastSeq: z.int().nullable(),
    })
    .describe('The ledger entries the record was generated from.'),
  categoriesOfProcessing: z.array(
    z.object({
      service: z.string(),
      operation: z.string(),
      outcome: z.string(),
      dataCategories: z.array(z.string()),
      purposes: z.array(z.string()),
      count: z.int(),
    }),
  ),
  subprocessors: z.array(subprocessorUseView()),
  transfers: z
    .array(subprocessorUseView())
    .describe('Uses of a subprocessor outside the home region, with their transfer mechanism.'),
  securityMeasures: z.array(z.string()),
});

export const auditRoutes: FastifyPluginAsyncZod<{ service: ControlService }> = async (app, { service }) => {
  app.get(
    '/v1/controllers/:controllerId/audit-export',
    {
      schema: {
        summary:
          "The controller's audit export for a period (DPA §10): its ledger entries with inclusion proofs, signed checkpoints, the verifier key and a signed manifest; check it offline with `massivesms audit verify-export`",
        tags: ['audit'],
        security: auth,
        params: z.object({ controllerId: id }),
        querystring: periodQuery,
        response: {
          200: z
            .object({
              format: z.literal('massivesms.audit-export/1'),
              files: z.record(z.string(), z.string()),
            })
            .describe(
              'The bundle: RFC 8785 canonical JSON, mapping file names to their text (services/audit/README.md documents each file). Save the bytes as they are: any change is detected.',
            ),
          ...errors(
            'REQUEST_INVALID',
            'AUTH_REQUIRED',
            'NOT_FOUND',
            'AUDIT_PERIOD_INVALID',
            'AUDIT_EXPORT_TOO_LARGE',
            'AUDIT_NOT_CHECKPOINTED',
            'AUDIT_LEDGER_UNAVAILABLE',
          ),
        },
      },
    },
    async (request, reply) => {
      const period = periodOf(request.query);
      const bytes = await service.auditExport(principal(request), request.params.controllerId, period);
      const name = `audit-export-${request.params.controllerId}-${period.from.toISOString().slice(0, 10)}-${period.to.toISOString().slice(0, 10)}.json`;
      // The exact bytes: re-serialising would be harmless to the content but not to the bytes an auditor hashes.
      return reply
        .type('application/json')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Buffer.from(bytes) as never); // a Buffer goes out unserialised; the schema documents its content
    },
  );
  app.get(
    '/v1/controllers/:controllerId/processing-record',
    {
      schema: {
        summary:
          'Record of processing activities carried out for the controller (GDPR Art. 30(2)) in a period, generated from the audit ledger and the subprocessor registry',
        tags: ['audit'],
        security: auth,
        params: z.object({ controllerId: id }),
        querystring: periodQuery,
        response: {
          200: processingRecordView,
          ...errors(
            'REQUEST_INVALID',
            'AUTH_REQUIRED',
            'NOT_FOUND',
            'AUDIT_PERIOD_INVALID',
            'AUDIT_LEDGER_UNAVAILABLE',
          ),
        },
      },
    },
    async (request) =>
      service.processingRecord(principal(request), request.params.controllerId, periodOf(request.query)),
  );
};
