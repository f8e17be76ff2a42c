import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Principal } from '../../application/ports.ts';
import type { SubjectRequests } from '../../application/subject-requests.ts';
import { ControlProblem, type ProblemCode, problemTypes } from '../../domain/problems.ts';

/** What the plugin needs: the use cases and the token check every other route uses. */
export interface SubjectRequestRoutesOptions {
  readonly subjectRequests: SubjectRequests;
  readonly authenticate: (token: string) => Promise<Principal | undefined>;
}

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
  .max(128);
const problem = z
  .object({ type: z.string(), title: z.string(), status: z.int(), detail: z.string(), code: z.string() })
  .loose()
  .describe('RFC 9457 problem details; `code` is stable.');
const errors = (...codes: ProblemCode[]) =>
  Object.fromEntries(codes.map((code) => [problemTypes[code].status, problem]));
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
 * Data-subject requests (DPA §8), one Fastify plugin: file a request for a (controller, phone
 * number) and poll it. Operator tokens or the controller's own token; another controller's id is
 * answered 404.
 */
export async function subjectRequestRoutes(app: FastifyInstance, options: SubjectRequestRoutesOptions) {
  app.addHook('preHandler', async (request: FastifyRequest) => {
    const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
    const principal = match ? await options.authenticate(match[1]!) : undefined;
    if (!principal) throw new ControlProblem('AUTH_REQUIRED', 'send Authorization: Bearer <token>');
    request.principal = principal;
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const security = [{ bearer: [] }];

  r.post(
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
        security,
        params: z.object({ controllerId: id }),
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
        .send(
          await options.subjectRequests.submit(request.principal!, request.params.controllerId, request.body),
        ),
  );

  r.get(
    '/v1/controllers/:controllerId/subject-requests/:requestId',
    {
      schema: {
        summary: 'Poll a data-subject request (and, for a completed access request, its export)',
        tags: ['subject-requests'],
        security,
        params: z.object({ controllerId: id, requestId: id }),
        response: { 200: requestView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) =>
      options.subjectRequests.get(request.principal!, request.params.controllerId, request.params.requestId),
  );
}
