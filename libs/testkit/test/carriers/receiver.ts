// A bare webhook receiver for the simulator tests: records raw bodies and headers exactly as they
// arrived (signature checks need the unmodified bytes) and answers with a scripted status.

import http from 'node:http';
import { eventually } from '../../src/eventually.ts';

export interface ReceivedRequest {
  readonly path: string;
  /** The full URL as the sender addressed it (what a Twilio signature covers). */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly rawBody: string;
}

export interface Receiver {
  readonly origin: string;
  readonly requests: ReceivedRequest[];
  /** Statuses to answer with, one per request in order; 200 once they run out. */
  script(...statuses: number[]): void;
  /** Requests whose path starts with `prefix`. */
  at(prefix: string): ReceivedRequest[];
  /** Waits until at least `n` requests arrived under `prefix`. */
  waitFor(prefix: string, n: number, ms?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let statuses: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const path = req.url ?? '/';
      requests.push({
        path,
        url: `${origin}${path}`,
        headers,
        rawBody: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const origin = `http://127.0.0.1:${address.port}`;
  const at = (prefix: string) => requests.filter((r) => r.path.startsWith(prefix));
  return {
    origin,
    requests,
    script: (...s) => {
      statuses = s;
    },
    at,
    async waitFor(prefix, n, ms = 5_000) {
      await eventually(ms, () => {
        if (at(prefix).length < n)
          throw new Error(`expected ${n} requests at ${prefix}, got ${at(prefix).length}`);
      });
      return at(prefix);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
