// Instruction documents: every version kept; publishing one is judged by the instruction policy.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlService } from '../../../application/control-service.ts';
import { errors } from '../problems.ts';
import { auth, controllerParams, id, principal } from '../schemas.ts';

export interface InstructionRouteOptions {
  readonly service: ControlService;
  /** Instruction document schema, shown in the OpenAPI document. */
  readonly instructionSchema: z.ZodType;
}

const instructionView = z.object({
  controllerId: id,
  version: z.int(),
  sha256: z.string(),
  ref: z.string().describe('Instruction reference carried by every record: `id@version#sha256`.'),
  publishedAt: z.string(),
  publishedBy: z.string(),
  document: z.record(z.string(), z.unknown()),
});

function instructionOut(row: {
  controllerId: string;
  version: number;
  sha256: string;
  publishedAt: string;
  publishedBy: string;
  document: Record<string, unknown>;
}) {
  return { ...row, ref: `${row.controllerId}-sms@${row.version}#${row.sha256}` };
}

export const instructionRoutes: FastifyPluginAsyncZod<InstructionRouteOptions> = async (
  app,
  { service, instructionSchema },
) => {
  app.post(
    '/v1/controllers/:controllerId/instructions',
    {
      schema: {
        summary: 'Publish a new instruction version (refused with a notice listing every problem)',
        tags: ['instructions'],
        security: auth,
        params: controllerParams,
        body: instructionSchema,
        response: { 201: instructionView, ...errors('AUTH_REQUIRED', 'NOT_FOUND', 'INSTRUCTION_REFUSED') },
      },
      // The policy, not the route schema, judges the document, so a refusal lists every problem.
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          instructionOut(
            await service.publishInstruction(principal(request), request.params.controllerId, request.body),
          ),
        ),
  );
  app.get(
    '/v1/controllers/:controllerId/instructions',
    {
      schema: {
        summary: 'List published instruction versions',
        tags: ['instructions'],
        security: auth,
        params: controllerParams,
        response: {
          200: z.object({ items: z.array(instructionView) }),
          ...errors('AUTH_REQUIRED', 'NOT_FOUND'),
        },
      },
    },
    async (request) => ({
      items: (await service.listInstructions(principal(request), request.params.controllerId)).map(
        instructionOut,
      ),
    }),
  );
  app.get(
    '/v1/controllers/:controllerId/instructions/:version',
    {
      schema: {
        summary: 'Read one instruction version, or `current`',
        tags: ['instructions'],
        security: auth,
        params: z.object({
          controllerId: id,
          version: z.union([z.literal('current'), z.coerce.number().int().min(1)]),
        }),
        response: { 200: instructionView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) =>
      instructionOut(
        await service.getInstruction(principal(request), request.params.controllerId, request.params.version),
      ),
  );
};
