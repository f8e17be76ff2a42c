// Webhook endpoints and their signing secrets (the secret itself is shown only once).
import { webhookEventTypes } from '@massivesms/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ControlService, DEFAULT_ROTATION_GRACE_SECONDS } from '../../../application/control-service.ts';
import { errors } from '../problems.ts';
import { auth, controllerParams, endpointParams, id, principal } from '../schemas.ts';

const secretInfo = z.object({
  secretId: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
});
const endpointView = z.object({
  id,
  url: z.string(),
  eventTypes: z.array(z.enum(webhookEventTypes)),
  enabled: z.boolean(),
  revision: z.int(),
  updatedAt: z.string(),
  secrets: z.array(secretInfo).describe('Secret metadata; the secret itself is shown only once.'),
});
const eventTypes = z.array(z.enum(webhookEventTypes)).min(1);

function endpointOut(e: {
  endpointId?: string;
  id?: string;
  url: string;
  eventTypes: readonly string[];
  enabled: boolean;
  revision: number;
  updatedAt: string;
  secrets?: readonly { secretId: string; createdAt: string; expiresAt: string | null }[];
}) {
  return {
    id: (e.endpointId ?? e.id)!,
    url: e.url,
    eventTypes: [...e.eventTypes] as (typeof webhookEventTypes)[number][],
    enabled: e.enabled,
    revision: e.revision,
    updatedAt: e.updatedAt,
    secrets: (e.secrets ?? []).map((s) => ({
      secretId: s.secretId,
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
    })),
  };
}

export const endpointRoutes: FastifyPluginAsyncZod<{ service: ControlService }> = async (
  app,
  { service },
) => {
  app.post(
    '/v1/controllers/:controllerId/endpoints',
    {
      schema: {
        summary: 'Register a webhook endpoint; the signing secret is returned once',
        tags: ['endpoints'],
        security: auth,
        params: controllerParams,
        body: z.strictObject({ url: z.string().max(2048), eventTypes, enabled: z.boolean().optional() }),
        response: {
          201: endpointView.extend({
            secret: z.string().describe('`whsec_…`: store it now, it is never shown again.'),
          }),
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'ENDPOINT_URL_REFUSED'),
        },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await service.createEndpoint(
        principal(request),
        request.params.controllerId,
        request.body,
      );
      return reply.code(201).send({ ...endpointOut(endpoint), secret });
    },
  );
  app.get(
    '/v1/controllers/:controllerId/endpoints',
    {
      schema: {
        summary: 'List webhook endpoints',
        tags: ['endpoints'],
        security: auth,
        params: controllerParams,
        response: {
          200: z.object({ items: z.array(endpointView) }),
          ...errors('AUTH_REQUIRED', 'NOT_FOUND'),
        },
      },
    },
    async (request) => ({
      items: (await service.listEndpoints(principal(request), request.params.controllerId)).map(endpointOut),
    }),
  );
  app.get(
    '/v1/controllers/:controllerId/endpoints/:endpointId',
    {
      schema: {
        summary: 'Read a webhook endpoint',
        tags: ['endpoints'],
        security: auth,
        params: endpointParams,
        response: { 200: endpointView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request) =>
      endpointOut(
        await service.getEndpoint(principal(request), request.params.controllerId, request.params.endpointId),
      ),
  );
  app.patch(
    '/v1/controllers/:controllerId/endpoints/:endpointId',
    {
      schema: {
        summary: 'Change URL, subscribed event types or enabled',
        tags: ['endpoints'],
        security: auth,
        params: endpointParams,
        body: z.strictObject({
          url: z.string().max(2048).optional(),
          eventTypes: eventTypes.optional(),
          enabled: z.boolean().optional(),
        }),
        response: {
          200: endpointView,
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'ENDPOINT_URL_REFUSED'),
        },
      },
    },
    async (request) =>
      endpointOut(
        await service.updateEndpoint(
          principal(request),
          request.params.controllerId,
          request.params.endpointId,
          request.body,
        ),
      ),
  );
  app.delete(
    '/v1/controllers/:controllerId/endpoints/:endpointId',
    {
      schema: {
        summary: 'Delete a webhook endpoint',
        tags: ['endpoints'],
        security: auth,
        params: endpointParams,
        response: { 204: z.null().describe('Deleted'), ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
      },
    },
    async (request, reply) => {
      await service.deleteEndpoint(
        principal(request),
        request.params.controllerId,
        request.params.endpointId,
      );
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/v1/controllers/:controllerId/endpoints/:endpointId/secret/rotate',
    {
      schema: {
        summary: 'Rotate the signing secret; older secrets keep verifying for the grace period',
        tags: ['endpoints'],
        security: auth,
        params: endpointParams,
        body: z
          .strictObject({
            graceSeconds: z
              .int()
              .min(0)
              .max(7 * 86_400)
              .default(DEFAULT_ROTATION_GRACE_SECONDS),
          })
          .default({ graceSeconds: DEFAULT_ROTATION_GRACE_SECONDS }),
        response: {
          200: endpointView.extend({ secret: z.string(), secretId: z.string() }),
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const result = await service.rotateSecret(
        principal(request),
        request.params.controllerId,
        request.params.endpointId,
        request.body.graceSeconds,
      );
      return { ...endpointOut(result.endpoint), secret: result.secret, secretId: result.secretId };
    },
  );
};
