import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * A TCP port the OS reports free on 127.0.0.1, for a child process that must keep its port across
 * restarts. A random pick from a fixed range could land on a port in use (the range overlaps the
 * ephemeral ports that every Kafka and PostgreSQL connection takes): the child then exits EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
