// Controllers: created and listed by operators; read and renamed by the controller's own token too.
import { cells } from '@massivesms/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlService } from '../../../application/control-service.ts';
import { errors } from '../problems.ts';
import { auth, controllerParams, id, principal } from '../schemas.ts';

const controllerView = z.object({
  id,
  name: z.string(),
  region: z.enum(cells),
  revision: z.int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const controllerRoutes: FastifyPluginAsyncZod<{ service: ControlService }> = async (
  app,
  { service },
) => {
  app.post(
    '/v1/controllers',
    {
      schema: {
        summary: 'Create a controller (operator)',
        tags: ['controllers'],
        security: auth,
        body: z.strictObject({
          id: id.optional(),
          name: z.string().min(1).max(200),
          region: z.enum(cells),
        }),
        response: {
          201: controllerView,
          ...errors(
            'REQUEST_INVALID',
            'AUTH_REQUIRED',
            'OPERATOR_ONLY',
            'CONTROLLER_EXISTS',
            'CONTROLLER_WRONG_CELL',
          ),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await service.createController(principal(request), request.body)),
  );
  app.get(
    '/v1/controllers',
    {
      schema: {
        summary: 'List controllers (operator)',
        tags: ['controllers'],
        security: auth,
        response: {
          200: z.object({ items: z.array(controllerView) }),
          ...errors('AUTH_REQUIRED', 'OPERATOR_ONLY'),
        },
      },
    },
    async (request) => ({ items: await service.listControllers(principal(request)) }),
  );
  app.get(
    '/v1/controllers/:controllerId',
    {
      schema: {
        summary: 'Read a controller',
        tags: ['controllers'],
        security: auth,
        params: controllerParams,
        response: { 200: controllerView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) => service.getController(principal(request), request.params.controllerId),
  );
  app.patch(
    '/v1/controllers/:controllerId',
    {
      schema: {
        summary: 'Rename a controller (its home region can never change)',
        tags: ['controllers'],
        security: auth,
        params: controllerParams,
        body: z.strictObject({
          name: z.string().min(1).max(200).optional(),
          region: z.enum(cells).optional(),
        }),
        response: {
          200: controllerView,
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'CONTROLLER_REGION_IMMUTABLE'),
        },
      },
    },
    async (request) =>
      service.updateController(principal(request), request.params.controllerId, request.body),
  );
};
