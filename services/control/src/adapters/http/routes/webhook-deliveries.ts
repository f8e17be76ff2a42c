// Webhook deliveries: what was attempted, and sending again (one delivery, or an endpoint's dead ones).
// The webhooks service owns the deliveries: listings are its answers, and a resend or recovery is a
// command it carries out shortly after (202 with a command id; poll the command for its outcome).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlService } from '../../../application/control-service.ts';
import type { WebhookDeliveryView } from '../../../application/ports.ts';
import { errors } from '../problems.ts';
import { auth, endpointParams, id, isoTime, principal } from '../schemas.ts';

const attemptView = z.object({
  attempt: z.int(),
  startedAt: z.string(),
  httpStatus: z.int().nullable(),
  latencyMs: z.number(),
  errorClass: z.string().nullable(),
  responseExcerpt: z.string().nullable().describe("The start of the endpoint's response, truncated."),
  nextAttemptAt: z.string().nullable(),
});
const deliveryView = z
  .object({
    webhookId: z.string().describe('The `webhook-id` header: the same on every attempt and resend.'),
    endpointId: z.string(),
    messageId: z.string().nullable(),
    eventType: z.string(),
    state: z.enum(['pending', 'delivered', 'dead']),
    attempts: z.array(attemptView),
    nextAttemptAt: z.string().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .describe('A webhook delivery and every attempt; never the body, which may hold a phone number.');
const deliveriesView = z.object({ deliveries: z.array(deliveryView) });
const commandAccepted = z
  .object({
    commandId: z
      .string()
      .describe('Poll `GET /v1/controllers/{controllerId}/webhook-commands/{commandId}` for the outcome.'),
    status: z.literal('queued'),
  })
  .describe(
    'Accepted: the webhooks service carries the command out shortly (normally within a second), once.',
  );
const commandView = z.object({
  commandId: z.string(),
  kind: z.enum(['resend', 'recover']),
  target: z.string().describe('The delivery (resend) or endpoint (recover) the command concerns.'),
  status: z
    .enum(['queued', 'done', 'refused'])
    .describe(
      '`queued`: not carried out yet; `done`: carried out; `refused`: nothing was sent again, `reason` says why.',
    ),
  requeued: z
    .int()
    .nullable()
    .describe(
      'How many deliveries were queued again (dead ones) or brought forward (waiting for a retry); null while queued.',
    ),
  reason: z
    .string()
    .nullable()
    .describe(
      'Why a command was refused: `pending` (the delivery is still queued), `not_found`, `gone` or `continuous_failure` (the webhooks service disabled the endpoint since).',
    ),
  requestedAt: z.string(),
  finishedAt: z.string().nullable(),
});

// Field by field, so nothing the port adds later (a body, a lease) reaches a client by accident.
function deliveryOut(d: WebhookDeliveryView) {
  return {
    webhookId: d.webhookId,
    endpointId: d.endpointId,
    messageId: d.messageId,
    eventType: d.eventType,
    state: d.state,
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: a.startedAt,
      httpStatus: a.httpStatus,
      latencyMs: a.latencyMs,
      errorClass: a.errorClass,
      responseExcerpt: a.responseExcerpt,
      nextAttemptAt: a.nextAttemptAt,
    })),
    nextAttemptAt: d.nextAttemptAt,
    lastError: d.lastError,
    createdAt: d.createdAt,
    finishedAt: d.finishedAt,
  };
}

export const webhookDeliveryRoutes: FastifyPluginAsyncZod<{ service: ControlService }> = async (
  app,
  { service },
) => {
  app.get(
    '/v1/controllers/:controllerId/messages/:messageId/webhook-deliveries',
    {
      schema: {
        summary: "Webhook deliveries of one of the controller's messages, with every attempt",
        tags: ['webhook deliveries'],
        security: auth,
        params: z.object({ controllerId: id, messageId: id }),
        response: {
          200: deliveriesView,
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'WEBHOOK_RECOVERY_UNAVAILABLE'),
        },
      },
    },
    async (request) => ({
      deliveries: (
        await service.listMessageDeliveries(
          principal(request),
          request.params.controllerId,
          request.params.messageId,
        )
      ).map(deliveryOut),
    }),
  );
  app.get(
    '/v1/controllers/:controllerId/endpoints/:endpointId/deliveries',
    {
      schema: {
        summary: 'Webhook deliveries to an endpoint since a time (default: the last 24 h), newest first',
        tags: ['webhook deliveries'],
        security: auth,
        params: endpointParams,
        querystring: z.strictObject({
          since: isoTime.optional().describe('ISO 8601 time; deliveries created at or after it.'),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
        response: {
          200: deliveriesView,
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'WEBHOOK_RECOVERY_UNAVAILABLE'),
        },
      },
    },
    async (request) => ({
      deliveries: (
        await service.listEndpointDeliveries(
          principal(request),
          request.params.controllerId,
          request.params.endpointId,
          {
            since: request.query.since === undefined ? undefined : new Date(request.query.since),
            limit: request.query.limit,
          },
        )
      ).map(deliveryOut),
    }),
  );
  app.post(
    '/v1/controllers/:controllerId/webhook-deliveries/:webhookId/resend',
    {
      schema: {
        summary:
          'Send one delivery again with a fresh retry schedule (same webhook-id); answers a command to poll',
        tags: ['webhook deliveries'],
        security: auth,
        params: z.object({ controllerId: id, webhookId: id }),
        response: {
          202: commandAccepted,
          ...errors(
            'REQUEST_INVALID',
            'AUTH_REQUIRED',
            'NOT_FOUND',
            'WEBHOOK_DELIVERY_PENDING',
            'WEBHOOK_ENDPOINT_DISABLED',
            'WEBHOOK_RECOVERY_UNAVAILABLE',
          ),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await service.resendDelivery(
            principal(request),
            request.params.controllerId,
            request.params.webhookId,
          ),
        ),
  );
  app.post(
    '/v1/controllers/:controllerId/endpoints/:endpointId/recover',
    {
      schema: {
        summary:
          'Send again every dead delivery to an endpoint created since a time, and at once those still waiting for a retry; answers a command to poll',
        tags: ['webhook deliveries'],
        security: auth,
        params: endpointParams,
        body: z.strictObject({
          since: isoTime.describe('ISO 8601 time; dead deliveries created at or after it.'),
        }),
        response: {
          202: commandAccepted,
          ...errors(
            'REQUEST_INVALID',
            'AUTH_REQUIRED',
            'NOT_FOUND',
            'WEBHOOK_ENDPOINT_DISABLED',
            'WEBHOOK_RECOVERY_UNAVAILABLE',
          ),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await service.recoverEndpoint(
            principal(request),
            request.params.controllerId,
            request.params.endpointId,
            new Date(request.body.since),
          ),
        ),
  );
  app.get(
    '/v1/controllers/:controllerId/webhook-commands/:commandId',
    {
      schema: {
        summary: 'A resend or recovery command and its outcome, as the webhooks service carried it out',
        tags: ['webhook deliveries'],
        security: auth,
        params: z.object({ controllerId: id, commandId: id }),
        response: {
          200: commandView,
          ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'WEBHOOK_RECOVERY_UNAVAILABLE'),
        },
      },
    },
    async (request) =>
      service.webhookCommand(principal(request), request.params.controllerId, request.params.commandId),
  );
};
