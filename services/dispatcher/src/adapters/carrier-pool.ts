import { traceHttpCall } from '@massivesms/telemetry';
import { Pool } from 'undici';
import type { CarrierName } from '../application/ports.ts';
import { type CarrierFailure, transportKindFromErrorCode } from '../domain/classify.ts';

/** Default connections per carrier host: enough for every partition's chunk in flight at once. */
const DEFAULT_CONNECTIONS = 32;

/** A carrier's answer: its status, headers and body text. */
export interface CarrierAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** A call that got no answer: what it means for the send (see CarrierFailure for the rules). */
export class CarrierCallError extends Error {
  override readonly name = 'CarrierCallError';
  readonly failure: CarrierFailure;
  constructor(failure: CarrierFailure, options?: { cause?: unknown }) {
    super(`carrier call failed: ${failure.kind}`, options);
    this.failure = failure;
  }
}

/** Kept-alive connections to one carrier host, each call bounded as a whole. */
export interface CarrierPool {
  /** One request; throws CarrierCallError when no answer came (nothing here retries). */
  request(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<CarrierAnswer>;
  /** Closes the connections once the calls in flight ended. */
  close(): Promise<void>;
}

/**
 * An undici Pool on the carrier's origin: bounded connections, connect/headers/body timeouts and one
 * deadline per call (waiting for a connection included) all equal to `timeoutMs`. The official SDKs
 * go through WHATWG fetch (Telnyx) or axios (Twilio): about 0.4 ms of CPU per send against 0.1 ms.
 */
export function carrierPool(
  carrier: CarrierName,
  origin: string,
  timeoutMs: number,
  connections = DEFAULT_CONNECTIONS,
): CarrierPool {
  const pool = new Pool(origin, {
    connections,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  // A CLIENT span per call (no path: it names the account); no trace context goes to the carrier.
  const { hostname, port, protocol } = new URL(origin);
  const span = {
    host: hostname,
    port: Number(port) || (protocol === 'https:' ? 443 : 80),
    attributes: { 'massivesms.carrier': carrier },
  };
  return {
    request: (method, path, headers, body) =>
      traceHttpCall({ method, ...span }, () => call(method, path, headers, body)),
    close: () => pool.close(),
  };

  async function call(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<CarrierAnswer> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      const response = await pool.request({
        method,
        path,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: deadline.signal,
      });
      const text = await response.body.text();
      return { status: response.statusCode, headers: response.headers, text };
    } catch (error) {
      // Our own deadline: the request may have been written, so the outcome is ambiguous.
      if (deadline.signal.aborted)
        throw new CarrierCallError({ carrier, kind: 'response_timeout' }, { cause: error });
      throw new CarrierCallError(transportFailure(carrier, error), { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Describes what undici threw for a call, from the error's code (see CarrierFailure for the rules). */
export function transportFailure(carrier: CarrierName, error: unknown): CarrierFailure {
  const e = error as { code?: unknown; syscall?: string; cause?: { code?: unknown; syscall?: string } };
  const code =
    typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return { carrier, kind: transportKindFromErrorCode(code, e?.syscall ?? e?.cause?.syscall) };
}

/** The body parsed as JSON, or undefined when it is not JSON (an HTML page from a proxy). */
export function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
