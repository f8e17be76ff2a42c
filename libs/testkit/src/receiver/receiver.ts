// A customer's webhook endpoint for tests, the demo and benchmarks: takes Standard Webhooks
// deliveries at `/hooks/<name>`, verifies each with both packages against the endpoint's current
// secrets, answers as the endpoint's behaviour says, and records every attempt. Order per request:
// body limit (413), known endpoint (404), signature (400, whatever the behaviour), then behaviour.

import http from 'node:http';
import { sendJson, startHttpServer } from '../carriers/http.ts';
import {
  answerFor,
  checkBehaviour,
  checkEndpointName,
  type ReceiverBehaviour,
  ReceiverConfigError,
} from './behaviour.ts';
import { ReceiptLog, type ReceivedWebhook, type ReceiverSummary } from './log.ts';
import { checkSecrets, SignatureVerifier } from './verify.ts';

/** Largest delivery body accepted; a longer one is answered 413. */
export const MAX_BODY_BYTES = 256 * 1024;
const MAX_ADMIN_BODY_BYTES = 64 * 1024;
// Past the limit the body is still read, so the sender gets the 413 rather than a reset, but only
// this far: beyond it the connection is cut.
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

/** Options of `startWebhookReceiver`. */
export interface ReceiverOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** 127.0.0.1 by default; the admin API has no auth, so think twice before 0.0.0.0. */
  host?: string;
}

/** How an endpoint is registered: its secrets (rotation: several) and optionally a behaviour. */
export interface EndpointOptions {
  secrets: string[];
  behaviour?: ReceiverBehaviour;
}

/** A running receiver. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly origin: string;
  /** Registers or replaces an endpoint (attempt counts restart) and returns its URL, `${origin}/hooks/${name}`. */
  endpoint(name: string, options: EndpointOptions): string;
  /** Replaces an endpoint's behaviour (null: plain 200) and restarts its failFirst counting. */
  setBehaviour(name: string, behaviour: ReceiverBehaviour | null): void;
  /** Replaces an endpoint's secrets; later deliveries are verified against these only. */
  setSecrets(name: string, secrets: string[]): void;
  /** Every request to `/hooks/*`, in arrival order (a live array). */
  readonly received: readonly ReceivedWebhook[];
  /** The records of one endpoint (a copy). */
  forEndpoint(name: string): ReceivedWebhook[];
  /** Distinct webhook-ids answered 2xx, per endpoint and total; signature failures (either package rejected). */
  summary(): ReceiverSummary;
  /** Forgets every record (endpoints and their behaviours stay). */
  clear(): void;
  /** Stops listening, cuts hanging requests and destroys every socket. */
  close(): Promise<void>;
}

interface Endpoint {
  verifier: SignatureVerifier;
  behaviour: ReceiverBehaviour;
  /** Verified attempts per webhook-id since the behaviour was set: what failFirst counts. */
  attempts: Map<string, number>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates `{name, secrets, behaviour?}`, the body of `POST /__admin/endpoints`. */
function checkRegistration(input: unknown): {
  name: string;
  secrets: string[];
  behaviour: ReceiverBehaviour;
} {
  if (!isObject(input)) throw new ReceiverConfigError('expected a JSON object {name, secrets, behaviour?}');
  for (const key of Object.keys(input)) {
    if (key !== 'name' && key !== 'secrets' && key !== 'behaviour') {
      throw new ReceiverConfigError(`unknown field "${key}"`);
    }
  }
  return {
    name: checkEndpointName(input.name),
    secrets: checkSecrets(input.secrets),
    behaviour:
      input.behaviour === undefined || input.behaviour === null ? {} : checkBehaviour(input.behaviour),
  };
}

/** Reads a body of at most `limit` bytes; undefined when it is longer (then it is drained, not kept). */
async function readLimited(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  let chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else if (size > MAX_DRAIN_BYTES) break;
    else chunks = [];
  }
  // Decoded once here and never re-serialised: the signature covers these exact characters.
  return size > limit ? undefined : Buffer.concat(chunks).toString('utf8');
}

function stringHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) if (typeof value === 'string') out[key] = value;
  return out;
}

function parseTimestamp(header: string | undefined): number {
  return header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : Number.NaN;
}

/** Answers with a reason-phrase body, which is what a sender stores (truncated) as the response. */
function sendText(
  res: http.ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  body?: string,
): void {
  const text = body ?? http.STATUS_CODES[status] ?? String(status);
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Waits `ms`; false when the connection closed first (the sender hung up, or close() destroyed it). */
function hang(ms: number, res: http.ServerResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const finish = (elapsed: boolean): void => {
      clearTimeout(timer);
      res.off('close', cut);
      resolve(elapsed);
    };
    const cut = (): void => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    res.on('close', cut);
  });
}

/** Starts a webhook receiver on loopback (a free port unless `port` is given). */
export async function startWebhookReceiver(options: ReceiverOptions = {}): Promise<WebhookReceiver> {
  const endpoints = new Map<string, Endpoint>();
  const log = new ReceiptLog();
  const pending = new Set<Promise<void>>();
  let origin = '';
  let closed: Promise<void> | undefined;

  function existing(name: string): Endpoint {
    const endpoint = endpoints.get(name);
    if (!endpoint) throw new ReceiverConfigError(`no endpoint named "${name}"`);
    return endpoint;
  }

  function register(name: string, secrets: string[], behaviour: ReceiverBehaviour): string {
    endpoints.set(name, { verifier: new SignatureVerifier(secrets), behaviour, attempts: new Map() });
    return `${origin}/hooks/${name}`;
  }

  async function handleDelivery(req: http.IncomingMessage, res: http.ServerResponse, name: string) {
    const receivedAt = new Date();
    const body = await readLimited(req, MAX_BODY_BYTES);
    const headers = stringHeaders(req);
    const record: ReceivedWebhook = {
      endpoint: name,
      webhookId: headers['webhook-id'] ?? '',
      timestamp: parseTimestamp(headers['webhook-timestamp']),
      body: body ?? '',
      verified: { standardwebhooks: false, svix: false },
      status: 0,
      receivedAt,
    };
    if (body === undefined) {
      record.status = 413;
      log.add(record);
      sendJson(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` }, { connection: 'close' });
      return;
    }
    const endpoint = endpoints.get(name);
    if (!endpoint) {
      record.status = 404;
      log.add(record);
      sendJson(res, 404, { error: `no endpoint named "${name}"` });
      return;
    }
    record.verified = endpoint.verifier.verify(body, headers);
    if (!record.verified.standardwebhooks || !record.verified.svix) {
      record.status = 400;
      log.add(record, { signatureFailure: true });
      sendJson(res, 400, { error: 'signature verification failed', verified: record.verified });
      return;
    }
    log.add(record);
    const attempt = (endpoint.attempts.get(record.webhookId) ?? 0) + 1;
    endpoint.attempts.set(record.webhookId, attempt);
    const behaviour = endpoint.behaviour;
    if (behaviour.hangMs && !(await hang(behaviour.hangMs, res))) return;
    const answer = answerFor(behaviour, attempt);
    record.status = answer.status;
    sendText(res, answer.status, answer.headers, answer.body);
  }

  async function handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    if (path === '/__admin/endpoints') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
      const text = await readLimited(req, MAX_ADMIN_BODY_BYTES);
      if (text === undefined) return sendJson(res, 413, { error: `body over ${MAX_ADMIN_BODY_BYTES} bytes` });
      let input: unknown;
      try {
        input = JSON.parse(text);
      } catch {
        return sendJson(res, 400, { error: 'body must be JSON' });
      }
      try {
        const { name, secrets, behaviour } = checkRegistration(input);
        sendJson(res, 200, { name, url: register(name, secrets, behaviour) });
      } catch (error) {
        if (error instanceof ReceiverConfigError) sendJson(res, 400, { error: error.message });
        else throw error;
      }
      return;
    }
    if (path === '/__admin/received') {
      if (req.method === 'GET') return sendJson(res, 200, { received: log.records, summary: log.summary() });
      if (req.method === 'DELETE') {
        const cleared = log.records.length;
        log.clear();
        return sendJson(res, 200, { cleared });
      }
      return sendJson(res, 405, { error: 'use GET or DELETE' }, { allow: 'GET, DELETE' });
    }
    if (path === '/__admin/counts') {
      if (req.method !== 'GET') return sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
      // No records and no per-id sets (unlike the summary): a benchmark polls this while it waits.
      let answered2xx = 0;
      for (const r of log.records) if (r.status >= 200 && r.status < 300) answered2xx++;
      return sendJson(res, 200, { received: log.records.length, answered2xx });
    }
    sendJson(res, 404, { error: 'unknown admin path' });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    if (path.startsWith('/__admin/')) return handleAdmin(req, res, path);
    const hook = /^\/hooks\/([^/]+)$/.exec(path);
    if (!hook) return sendJson(res, 404, { error: 'deliveries go to /hooks/<name>' });
    if (req.method !== 'POST')
      return sendJson(res, 405, { error: 'deliveries are POSTed' }, { allow: 'POST' });
    return handleDelivery(req, res, hook[1]!);
  }

  const server = await startHttpServer(
    (req, res) => {
      // Tracked so close() returns only once no handler can touch the log any more.
      const p = handle(req, res);
      pending.add(p);
      const done = (): void => void pending.delete(p);
      p.then(done, done);
      return p;
    },
    { port: options.port ?? 0, host: options.host ?? '127.0.0.1' },
  );
  origin = server.origin;

  return {
    origin,
    endpoint(name, endpointOptions) {
      const checked = checkRegistration({ name, ...endpointOptions });
      return register(checked.name, checked.secrets, checked.behaviour);
    },
    setBehaviour(name, behaviour) {
      const endpoint = existing(name);
      endpoint.behaviour = behaviour === null ? {} : checkBehaviour(behaviour);
      endpoint.attempts = new Map();
    },
    setSecrets(name, secrets) {
      existing(name).verifier = new SignatureVerifier(checkSecrets(secrets));
    },
    get received() {
      return log.records;
    },
    forEndpoint: (name) => log.forEndpoint(name),
    summary: () => log.summary(),
    clear: () => log.clear(),
    close() {
      closed ??= (async () => {
        // Destroying the sockets closes every response, which ends each hang.
        await server.close();
        await Promise.allSettled([...pending]);
      })();
      return closed;
    },
  };
}
