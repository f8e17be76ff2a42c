// RED of a service's HTTP surface (receipt ingress, internal APIs): one hook on a Fastify instance.
// Routes are templates (`/receipts/:carrier/:messageId`), never paths, so ids never become labels;
// the operations routes are left out (scrapes and probes would drown the real traffic).
import { Counter, Histogram, type Registry } from 'prom-client';

const OPS_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/** The part of a Fastify instance the hook needs (kept structural: libs/metrics has no Fastify). */
export interface HookableApp {
  addHook(
    name: 'onResponse',
    hook: (
      request: { readonly method: string; readonly routeOptions: { readonly url?: string | undefined } },
      reply: { readonly statusCode: number; readonly elapsedTime: number },
    ) => Promise<void>,
  ): unknown;
}

/** Counts and times every request of `app` in `registry`. */
export function instrumentHttp(app: HookableApp, registry: Registry): void {
  const requests = new Counter({
    name: 'massivesms_http_requests_total',
    help: 'HTTP requests served (operations routes excepted), by route template, method and status class (2xx, 4xx, 5xx).',
    labelNames: ['route', 'method', 'status_class'] as const,
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'massivesms_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (operations routes excepted), by route template and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (OPS_ROUTES.has(route)) return;
    const status_class = `${Math.floor(reply.statusCode / 100)}xx`;
    requests.inc({ route, method: request.method, status_class });
    seconds.observe({ route, method: request.method }, reply.elapsedTime / 1_000);
  });
}
