// Tokens scoped to one controller, issued by an operator and shown once.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlService } from '../../../application/control-service.ts';
import { errors } from '../problems.ts';
import { auth, controllerParams, principal } from '../schemas.ts';

export const tokenRoutes: FastifyPluginAsyncZod<{ service: ControlService }> = async (app, { service }) => {
  app.post(
    '/v1/controllers/:controllerId/tokens',
    {
      schema: {
        summary: 'Issue a token scoped to this controller (operator); shown once',
        tags: ['tokens'],
        security: auth,
        params: controllerParams,
        response: {
          201: z.object({ tokenId: z.string(), token: z.string() }),
          ...errors('AUTH_REQUIRED', 'OPERATOR_ONLY', 'NOT_FOUND'),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await service.issueControllerToken(principal(request), request.params.controllerId)),
  );
};
