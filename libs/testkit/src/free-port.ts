import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Linux's ephemeral range: the ports outgoing connections take. */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    return Number(low) || 32_768;
  } catch {
    return 32_768;
  }
}

const LOW = 20_000;
const HIGH = Math.max(LOW + 1_000, Math.min(ephemeralLow(), 32_768));
/** Each vitest worker picks from its own slice, so two test files never get the same port. */
const SLICES = 16;
const SLICE = Math.floor((HIGH - LOW) / SLICES);
const sliceStart = LOW + (Number(process.env.VITEST_POOL_ID ?? 0) % SLICES) * SLICE;
let cursor = Math.floor(Math.random() * SLICE);

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  server.listen(port, '0.0.0.0');
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
  } catch {
    return false;
  }
  server.close();
  await once(server, 'close');
  return true;
}

/**
 * A TCP port free on every interface, for a child process that binds it later and must keep it
 * across restarts. Picked below the ephemeral range: a port the OS hands out for `listen(0)` can be
 * taken by any outgoing connection (Kafka, PostgreSQL, HTTP) before the child binds it, and the child
 * then exits EADDRINUSE (seen in CI while a demo made thousands of connections).
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < SLICE; tried++) {
    const port = sliceStart + (cursor++ % SLICE);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}–${sliceStart + SLICE - 1}`);
}
