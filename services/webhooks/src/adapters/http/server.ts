// The webhooks service's HTTP server: `/healthz`, `/readyz`, `/metrics`, and the routes registered on
// it (each in its own module, as a Fastify plugin).
import { instrumentHttp } from '@massivesms/metrics';
import { traceFastify } from '@massivesms/telemetry';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface WebhooksHttpOptions {
  readonly ready: () => boolean;
  readonly metrics: Registry;
}

/** The server with its operations routes; register the other routes, then listen. */
export function buildWebhooksHttp(options: WebhooksHttpOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  instrumentHttp(app, options.metrics);
  traceFastify(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) =>
    options.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', async (_request, reply) =>
    reply.type(options.metrics.contentType).send(await options.metrics.metrics()),
  );
  return app;
}
