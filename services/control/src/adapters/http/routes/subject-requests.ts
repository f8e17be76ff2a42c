// Data-subject requests (DPA §8): file a request for a (controller, phone number) and poll it.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SubjectRequests } from '../../../application/subject-requests.ts';
import { errors } from '../problems.ts';
import { auth, controllerParams, id, principal } from '../schemas.ts';

const requestTypes = ['access', 'rectification', 'erasure', 'restriction', 'objection'] as const;
const statusSchema = z
  .enum(['pending', 'completed', 'failed'])
  .describe(
    '`pending` until every service acknowledged; `failed` when one could not act (see `acknowledged`).',
  );

const requestView = z.object({
  id,
  controllerId: id,
  type: z.enum(requestTypes),
  status: statusSchema,
  requestedAt: z.string(),
  completedAt: z.string().nullable(),
  erasedAt: z
    .string()
    .nullable()
    .describe("When a later erasure of the same subject removed this request's number and export."),
  expected: z.array(z.string()).describe('Services that must acknowledge (CONTROL_DSR_SERVICES).'),
  acknowledged: z.array(
    z.object({
      service: z.string(),
      outcome: z.enum(['done', 'failed']),
      erased: z.record(z.string(), z.int()).nullable().describe('Erasure: rows erased per table.'),
      retained: z
        .array(z.string())
        .nullable()
        .describe('What the service keeps on purpose (pseudonymous opt-outs, the send ledger) and why.'),
      reason: z.string().nullable(),
      receivedAt: z.string(),
    }),
  ),
  result: z.record(z.string(), z.unknown()).nullable(),
  export: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      'Access, once completed: the subject’s number, their data-subject requests and each service’s part (router: suppressions; dispatcher: messages, held messages, suppressions; webhooks: deliveries with decrypted bodies and attempts). Null otherwise, and once the subject was erased.',
    ),
});

/**
 * Operator tokens or the controller's own token; another controller's id is answered 404. The work
 * is done by the services that hold the data; the request is polled until they all answered.
 */
export const subjectRequestRoutes: FastifyPluginAsyncZod<{ subjectRequests: SubjectRequests }> = async (
  app,
  { subjectRequests },
) => {
  app.post(
    '/v1/controllers/:controllerId/subject-requests',
    {
      schema: {
        summary: 'File a data-subject request (access, rectification, erasure, restriction, objection)',
        description: [
          'Accepted at once (202) and answered by every service that holds data about the subject; poll the request for its status.',
          '- `access`: once completed, GET returns everything held about the number, decrypted, as JSON (portability).',
          '- `erasure`: every service erases its rows about the subject; opt-outs, restrictions and objections stay, by pseudonym only, so the subject is never messaged again.',
          '- `restriction`, `objection`: the subject’s new messages end `suppressed` with `SMS_SUPPRESSED_RESTRICTION` / `SMS_SUPPRESSED_OBJECTION`.',
          '- `rectification`: completed at once with nothing rectified. The pipeline keeps no profile of a subject, only the number messages went to and records of that processing, which stay accurate as records; correct the number in your own systems and erase the wrong one here if it should be forgotten.',
        ].join('\n'),
        tags: ['subject-requests'],
        security: auth,
        params: controllerParams,
        body: z.strictObject({
          type: z.enum(requestTypes),
          phoneNumber: z
            .string()
            .min(1)
            .max(32)
            .describe('The subject’s number in E.164 (`+` and digits only), as messages were sent to it.'),
        }),
        response: {
          202: z.object({ id, status: statusSchema }),
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND'),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(await subjectRequests.submit(principal(request), request.params.controllerId, request.body)),
  );

  app.get(
    '/v1/controllers/:controllerId/subject-requests/:requestId',
    {
      schema: {
        summary: 'Poll a data-subject request (and, for a completed access request, its export)',
        tags: ['subject-requests'],
        security: auth,
        params: z.object({ controllerId: id, requestId: id }),
        response: { 200: requestView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) =>
      subjectRequests.get(principal(request), request.params.controllerId, request.params.requestId),
  );
};
