import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the operations endpoint reports. */
export interface OpsServerOptions {
  readonly port: number;
  readonly host?: string;
  /** Ready for traffic (views caught up, consumers joined)? Answers /readyz. */
  readonly ready: () => boolean | Promise<boolean>;
  /** Prometheus text exposition and its content type (prom-client's registry fits). */
  readonly metrics: { metrics(): Promise<string>; readonly contentType: string };
}

/** `/healthz`, `/readyz` and `/metrics` (GET and HEAD) for a service without an HTTP API of its own. */
export async function startOpsServer(
  options: OpsServerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0];
      // HEAD as GET (as Fastify answers it on the other services), headers only: node:http drops the
      // body of a response to HEAD itself. Anything else: 405 naming what is allowed.
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/healthz') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else if (path === '/readyz') {
        const ready = await options.ready();
        response
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
          .end(ready ? '{"status":"ready"}' : '{"status":"not ready"}');
      } else if (path === '/metrics') {
        response
          .writeHead(200, { 'content-type': options.metrics.contentType })
          .end(await options.metrics.metrics());
      } else {
        response.writeHead(404).end();
      }
    })().catch(() => response.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? '0.0.0.0', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
