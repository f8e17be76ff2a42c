// Cell-internal routes of the webhooks service: the deliveries and command outcomes the control API
// shows a controller, after its own token check (the control API proxies them; never expose
// `/internal/` outside the cell). Every route is scoped to the controller in its path. Never the
// delivery body: it may hold the recipient's number.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { WebhookRecovery } from '../../recovery.ts';
import type { PgCommandStore } from '../pg-commands.ts';

export interface DeliveryInternalRouteOptions {
  readonly deliveries: WebhookRecovery;
  readonly commands: PgCommandStore;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

type Params = Record<string, string>;

/** True when every path parameter is an id (anything else is refused before a query runs). */
const ids = (params: Params) => Object.values(params).every((v) => ID.test(v));
const invalid = (reply: FastifyReply, detail: string) => reply.code(400).send({ error: 'invalid', detail });
const notFound = (reply: FastifyReply) => reply.code(404).send({ error: 'not_found' });

export const deliveryInternalRoutes: FastifyPluginAsync<DeliveryInternalRouteOptions> = async (
  app,
  { deliveries, commands },
) => {
  app.get<{ Params: Params }>(
    '/internal/v1/controllers/:controllerId/messages/:messageId/deliveries',
    async (request, reply) => {
      const { controllerId, messageId } = request.params;
      if (!ids(request.params)) return invalid(reply, 'path');
      return { deliveries: await deliveries.forMessage(controllerId!, messageId!) };
    },
  );

  app.get<{ Params: Params; Querystring: Record<string, string | undefined> }>(
    '/internal/v1/controllers/:controllerId/endpoints/:endpointId/deliveries',
    async (request, reply) => {
      const { controllerId, endpointId } = request.params;
      const since = new Date(request.query.since ?? '');
      const limit = Number(request.query.limit);
      if (!ids(request.params)) return invalid(reply, 'path');
      if (Number.isNaN(since.getTime())) return invalid(reply, 'since must be an ISO 8601 time');
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) return invalid(reply, 'limit: 1 to 500');
      return { deliveries: await deliveries.forEndpoint(controllerId!, endpointId!, since, limit) };
    },
  );

  app.get<{ Params: Params }>(
    '/internal/v1/controllers/:controllerId/deliveries/:webhookId',
    async (request, reply) => {
      if (!ids(request.params)) return invalid(reply, 'path');
      const found = await deliveries.delivery(request.params.controllerId!, request.params.webhookId!);
      return found ?? notFound(reply);
    },
  );

  /** Why this service disabled the endpoint at `revision` or later (`reason: null`: it did not). */
  app.get<{ Params: Params; Querystring: Record<string, string | undefined> }>(
    '/internal/v1/endpoints/:endpointId/disabled',
    async (request, reply) => {
      const revision = Number(request.query.revision);
      if (!ids(request.params)) return invalid(reply, 'path');
      if (!Number.isInteger(revision) || revision < 1) return invalid(reply, 'revision');
      return { reason: (await deliveries.disabledReason(request.params.endpointId!, revision)) ?? null };
    },
  );

  /** A command's outcome; 404 while it is not carried out yet (or is another controller's). */
  app.get<{ Params: Params }>(
    '/internal/v1/controllers/:controllerId/commands/:commandId',
    async (request, reply) => {
      if (!ids(request.params)) return invalid(reply, 'path');
      const outcome = await commands.outcome(request.params.controllerId!, request.params.commandId!);
      return outcome ?? notFound(reply);
    },
  );
};
