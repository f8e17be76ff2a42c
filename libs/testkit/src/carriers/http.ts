// HTTP plumbing shared by the carrier simulators: a node:http server that can really refuse
// connections, body and JSON helpers, the admin routes, and a webhook poster with retries that
// tracks its background work so `close()` leaves nothing running.

import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultConfigError, type FaultController } from './faults.ts';
import type { Ledger } from './ledger.ts';
import { RetainedList } from './retention.ts';

/** Handles one request; a thrown error becomes a bare 500 (the simulator must never crash a test). */
export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** A listening simulator server whose listener can be closed and reopened on the same port. */
export interface SimHttpServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, no trailing slash. */
  readonly origin: string;
  /** Closes (true) or reopens (false) the listening socket; idle keep-alive sockets are dropped too. */
  setRefusing(refusing: boolean): Promise<void>;
  /** Whether the listener is closed on purpose. */
  readonly refusing: boolean;
  /** Stops listening and destroys every open socket (held responses included). */
  close(): Promise<void>;
}

/** Starts a node:http server on 127.0.0.1 (port 0 = any free port). */
export async function startHttpServer(
  handler: RequestHandler,
  options: { port?: number; host?: string } = {},
): Promise<SimHttpServer> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  let refusing = false;
  let closed = false;
  const server = http.createServer((req, res) => {
    // A keep-alive socket opened before `refuse` would otherwise still reach us: cut it, as a
    // carrier whose front end went away would.
    if (refusing) {
      req.socket.destroy();
      return;
    }
    handler(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('simulator error');
      } else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(options.port ?? 0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator: no TCP address');
  const port = address.port;
  return {
    host,
    port,
    origin: `http://${host}:${port}`,
    get refusing() {
      return refusing;
    },
    async setRefusing(on) {
      if (closed || on === refusing) return;
      if (on) {
        refusing = true;
        // Closing the listener is what makes a client see ECONNREFUSED: the "nothing was sent" case.
        const open = [...sockets];
        server.close();
        server.closeIdleConnections();
        // Let the FIN of the dropped keep-alive sockets reach pooled clients first; otherwise a
        // client reusing one sees "other side closed" (ambiguous) instead of a refused connect.
        await Promise.all(
          open
            .filter((s) => s.destroyed)
            .map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve)))),
        );
        await new Promise((resolve) => setTimeout(resolve, 5));
      } else {
        // Same port, so clients configured with the old base URL reach it again.
        await listen(port);
        refusing = false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const wasListening = server.listening;
      const done = wasListening ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined;
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await done;
    },
  };
}

/** Reads a request body as UTF-8, refusing bodies over `limit` bytes. */
export async function readBody(req: http.IncomingMessage, limit = 1_000_000): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes a JSON response with the given status and extra headers. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Answers like a load balancer in front of the carrier: HTML, no carrier error code (the ambiguous 502/504). */
export function sendProxyError(res: http.ServerResponse, status: number): void {
  const reason = http.STATUS_CODES[status] ?? 'Error';
  const text = `<html><head><title>${status} ${reason}</title></head><body><center><h1>${status} ${reason}</h1></center></body></html>\n`;
  res.writeHead(status, { 'content-type': 'text/html', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * Serves `/__admin/faults` (GET snapshot, POST configure, DELETE clear), `/__admin/ledger` (GET: the
 * kept entries and delivery records, with `accepted` the total) and `/__admin/counts` (GET: how many
 * sends were accepted and webhooks posted, totals even when the simulator keeps only a window).
 * Returns false for any other path. No auth: the simulators only listen on loopback by default.
 */
export async function handleAdmin(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  faults: FaultController,
  ledger: Ledger,
  deliveries: WebhookPoster,
): Promise<boolean> {
  if (!path.startsWith('/__admin/')) return false;
  if (path === '/__admin/faults') {
    if (req.method === 'GET') sendJson(res, 200, faults.snapshot());
    else if (req.method === 'DELETE') {
      await faults.clear();
      sendJson(res, 200, faults.snapshot());
    } else if (req.method === 'POST') {
      let input: unknown;
      try {
        input = JSON.parse(await readBody(req));
      } catch {
        sendJson(res, 400, { error: 'body must be JSON' });
        return true;
      }
      try {
        // Closing the listener for `refuse` leaves this in-flight request's socket open, so the
        // answer still reaches the caller.
        await faults.configure(input, { viaHttp: true });
        sendJson(res, 200, faults.snapshot());
      } catch (error) {
        if (error instanceof FaultConfigError) sendJson(res, 400, { error: error.message });
        else throw error;
      }
    } else sendJson(res, 405, { error: 'use GET, POST or DELETE' });
    return true;
  }
  if (path === '/__admin/ledger' && req.method === 'GET') {
    sendJson(res, 200, { accepted: ledger.size, entries: ledger.entries, deliveries: deliveries.records });
    return true;
  }
  if (path === '/__admin/counts' && req.method === 'GET') {
    // Counts only, so a benchmark can read them before and after a run without copying the ledger;
    // running totals, so they stay exact when only a window of records is kept.
    sendJson(res, 200, {
      accepted: ledger.size,
      receiptsPosted: deliveries.posted,
      receiptAttempts: deliveries.attempts,
    });
    return true;
  }
  sendJson(res, 404, { error: 'unknown admin path' });
  return true;
}

/** One HTTP attempt to deliver a webhook. */
export interface DeliveryAttempt {
  readonly url: string;
  /** 1-based attempt number for this URL. */
  readonly attempt: number;
  /** HTTP status, when the receiver answered. */
  readonly status?: number;
  /** Network error or timeout, when it did not. */
  readonly error?: string;
  readonly at: Date;
}

/** Every attempt made to deliver one webhook (a duplicated receipt is two records). */
export interface DeliveryRecord {
  /** Telnyx `event_type` or Twilio `MessageStatus` (`received` for inbound). */
  readonly kind: string;
  readonly carrierMessageId: string;
  readonly attempts: DeliveryAttempt[];
  delivered: boolean;
}

/** A signed request ready to post: the body and the headers (signature included) for one attempt. */
export interface SignedRequest {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** Posting policy of one carrier's webhooks. */
export interface PosterOptions {
  /** Retries per URL after the first attempt when the receiver does not answer 2xx. */
  readonly retries: number;
  readonly retryDelayMs: number;
  /** Per-attempt deadline; a slower receiver counts as a failed attempt. */
  readonly timeoutMs: number;
}

/**
 * Posts webhooks with retries and keeps a log of attempts (every record, or with `forgetting` those the
 * simulator's window keeps); background work is awaited by `settled()`.
 */
export class WebhookPoster {
  readonly #options: PosterOptions;
  readonly #pending = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  /** Reused connections (a carrier keeps them too); destroyed on close, so no socket outlives the simulator. */
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  /** Requests in flight, destroyed on close (one abort listener each would make every post O(n)). */
  readonly #live = new Set<http.ClientRequest>();
  readonly #records: RetainedList<DeliveryRecord>;
  #posted = 0;
  #attempts = 0;

  /** Fixes the retry policy; `forgetting`: whether `forget` may drop records (a windowed simulator). */
  constructor(options: PosterOptions, forgetting = false) {
    this.#options = options;
    this.#records = new RetainedList(forgetting);
  }

  /** The kept delivery records, oldest first; read it again after more posts (a new array once one was dropped). */
  get records(): readonly DeliveryRecord[] {
    return this.#records.items;
  }

  /** How many webhooks were posted (one record each), kept or not. */
  get posted(): number {
    return this.#posted;
  }

  /** How many HTTP attempts were made for them, kept or not. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Drops a finished record that left the simulator's window; the totals still count it. */
  forget(record: DeliveryRecord): void {
    this.#records.forget(record);
  }

  /** The signal background work should stop on. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Runs a background task (receipt sequence); its failure after close is expected and ignored. */
  run(task: (signal: AbortSignal) => Promise<void>): void {
    void this.track(task).catch(() => undefined);
  }

  /** Runs a task that `settled()` and `close()` wait for, and returns its result to the caller. */
  track<T>(task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const result = task(this.#abort.signal);
    const p: Promise<void> = result.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
    return result;
  }

  /** Waits until every scheduled webhook has been delivered or given up on. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /**
   * Posts to each URL in turn (primary, then failover), with retries per URL, until one answers 2xx.
   * `started` receives the record as soon as it exists (a window files it under its message).
   */
  async deliver(
    kind: string,
    carrierMessageId: string,
    urls: readonly string[],
    sign: (url: string, attempt: number) => SignedRequest,
    started?: (record: DeliveryRecord) => void,
  ): Promise<DeliveryRecord> {
    const record: DeliveryRecord = { kind, carrierMessageId, attempts: [], delivered: false };
    this.#records.add(record);
    this.#posted++;
    started?.(record);
    const signal = this.#abort.signal;
    for (const url of urls) {
      for (let attempt = 1; attempt <= this.#options.retries + 1; attempt++) {
        if (signal.aborted) return record;
        if (attempt > 1) await sleep(this.#options.retryDelayMs, undefined, { signal });
        const { body, headers } = sign(url, attempt);
        const outcome = await postOnce(url, body, headers, this.#options.timeoutMs, {
          agent: this.#agent,
          live: this.#live,
        });
        record.attempts.push({ url, attempt, ...outcome, at: new Date() });
        this.#attempts++;
        if (outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300) {
          record.delivered = true;
          return record;
        }
      }
    }
    return record;
  }

  /** Aborts pending deliveries and waits for them to stop. */
  async close(): Promise<void> {
    this.#abort.abort();
    for (const req of this.#live) req.destroy(new Error('simulator closed'));
    await this.settled();
    this.#agent.destroy();
  }
}

/** One POST through the poster's agent; the request stays in `live` until it ends. */
function postOnce(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  through: { agent: http.Agent; live: Set<http.ClientRequest> },
): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ error: 'invalid URL' });
      return;
    }
    const secure = target.protocol === 'https:';
    const req = (secure ? https : http).request(target, {
      method: 'POST',
      agent: secure ? false : through.agent,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    });
    through.live.add(req);
    req.on('close', () => through.live.delete(req));
    // The deadline runs from when the request has a socket, as a carrier's per-request timeout does:
    // time spent queued for one of our own connections is not the receiver's fault.
    let timer: NodeJS.Timeout | undefined;
    req.once('socket', () => {
      timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0 });
      });
      res.on('error', (error) => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, error: error.message });
      });
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      resolve({ error: error.message });
    });
    req.end(body);
  });
}

/** Sleeps unless the simulator is closing (then throws the abort reason). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return ms > 0 ? sleep(ms, undefined, { signal }) : Promise.resolve();
}
