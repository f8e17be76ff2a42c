// Operations routes, outside the OpenAPI document: liveness, readiness, metrics, the document itself.
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export interface OpsRouteOptions {
  readonly registry: Registry;
  /** Whether the service is ready for traffic (database reachable, state republished). */
  readonly ready: () => Promise<boolean>;
}

export const opsRoutes: FastifyPluginAsync<OpsRouteOptions> = async (app, { registry, ready }) => {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) =>
    (await ready()) ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
