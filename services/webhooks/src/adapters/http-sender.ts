import { checkUrl, type SsrfPolicy, SsrfRefusedError, vettedLookup } from '@massivesms/ssrf';
import { scrubString, traceHttpCall } from '@massivesms/telemetry';
import { Pool } from 'undici';
import type { AttemptResult } from '../domain/outcome.ts';

export interface HttpSenderOptions {
  /** SSRF policy checked on every attempt (DNS can change between registration and delivery). */
  readonly ssrf: SsrfPolicy;
  readonly connectTimeoutMs: number;
  /** Bound on a whole attempt, from connect to the end of the (truncated) response. */
  readonly totalTimeoutMs: number;
  /** Connections per endpoint: the per-endpoint concurrency limit. */
  readonly connectionsPerEndpoint: number;
  /** Response bytes kept for the attempt log. */
  readonly maxResponseBytes?: number;
  /** Idle pools kept (least recently used beyond this are closed). */
  readonly maxPools?: number;
}

/** Sends one signed webhook; never follows redirects, never throws. */
export interface HttpSender {
  /**
   * `endpointId` keys the connection pool: endpoints of one host (customers of one SaaS) never share
   * it. `signal` cuts the attempt short (the service is stopping): it then ends in error `aborted`.
   */
  post(
    endpointId: string,
    url: string,
    headers: Record<string, string>,
    body: string,
    signal?: AbortSignal,
  ): Promise<AttemptResult>;
  close(): Promise<void>;
}

/**
 * undici pools per (endpoint, origin, vetted addresses): each attempt resolves the host and vets every
 * address (libs/ssrf), then connects only to those addresses, so a DNS answer that changes between the
 * check and the connect (rebinding) cannot reach a private address; a changed answer gets a new pool.
 * Per endpoint, not per origin: a hanging endpoint must not take the connections of another endpoint
 * on the same host.
 */
export function createHttpSender(options: HttpSenderOptions): HttpSender {
  const maxBytes = options.maxResponseBytes ?? 1024;
  const maxPools = options.maxPools ?? 500;
  const pools = new Map<string, Pool>();

  function poolFor(
    endpointId: string,
    url: URL,
    addresses: readonly { address: string; family: 4 | 6 }[],
  ): Pool {
    const key = `${endpointId}|${url.origin}|${addresses.map((a) => a.address).join(',')}`;
    let pool = pools.get(key);
    if (pool) {
      pools.delete(key); // re-insert: the Map's order is the LRU order
    } else {
      pool = new Pool(url.origin, {
        connections: options.connectionsPerEndpoint,
        connect: {
          timeout: options.connectTimeoutMs,
          lookup: vettedLookup(addresses, { hostname: url.hostname }),
        },
        headersTimeout: options.totalTimeoutMs,
        bodyTimeout: options.totalTimeoutMs,
      });
      while (pools.size >= maxPools) {
        const [oldest, idle] = pools.entries().next().value as [string, Pool];
        pools.delete(oldest);
        void idle.close();
      }
    }
    pools.set(key, pool);
    return pool;
  }

  return {
    // A CLIENT span per attempt, named by the endpoint id only: a customer's URL or host may say who
    // the customer is, and no trace context goes to them.
    post: (endpointId, target, headers, body, stop) =>
      traceHttpCall({ method: 'POST', attributes: { 'massivesms.endpoint.id': endpointId } }, () =>
        attempt(endpointId, target, headers, body, stop),
      ),
    async close() {
      await Promise.all([...pools.values()].map((p) => p.destroy()));
      pools.clear();
    },
  };

  async function attempt(
    endpointId: string,
    target: string,
    headers: Record<string, string>,
    body: string,
    stop?: AbortSignal,
  ): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let checked: Awaited<ReturnType<typeof checkUrl>>;
    try {
      checked = await checkUrl(target, options.ssrf);
    } catch (error) {
      const reason = error instanceof SsrfRefusedError ? error.reason : 'invalid_url';
      return { error: 'ssrf_refused', latencyMs: elapsed(), responseExcerpt: reason };
    }
    const { url, addresses } = checked;
    const timeout = AbortSignal.timeout(options.totalTimeoutMs);
    const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
    try {
      const response = await poolFor(endpointId, url, addresses).request({
        method: 'POST',
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, 'user-agent': 'MassiveSMS-Webhooks/1' },
        body,
        signal,
      });
      // Stored and shown to the customer: a receiver that echoes our body must not put the
      // recipient's number into the attempt log in clear.
      const excerpt = scrubString(await readUpTo(response.body, maxBytes));
      const retryAfter = parseRetryAfter(response.headers['retry-after']);
      return {
        status: response.statusCode,
        latencyMs: elapsed(),
        ...(excerpt ? { responseExcerpt: excerpt } : {}),
        ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
      };
    } catch (error) {
      if (stop?.aborted) return { error: 'aborted', latencyMs: elapsed() };
      return { error: transportClass(error, timeout), latencyMs: elapsed() };
    }
  }
}

/** Reads at most `max` bytes of a response body and drops the rest (a huge reply must not cost memory). */
async function readUpTo(
  body: AsyncIterable<Buffer> & { destroy?: () => void },
  max: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < max) chunks.push(chunk.subarray(0, max - size));
    size += chunk.length;
    if (size >= max) {
      body.destroy?.();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `Retry-After` in seconds (delta form or HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function transportClass(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timeout';
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  )
    return 'timeout';
  if (code === 'ENOTFOUND' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return 'connect';
  if (code.startsWith('ERR_TLS') || code.includes('CERT')) return 'tls';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'reset';
  return 'other';
}
