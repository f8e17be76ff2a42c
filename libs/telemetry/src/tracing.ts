// Hand-made spans over @opentelemetry/api: Kafka send/process (messaging semantic conventions), HTTP
// client and server spans, and W3C trace context in record headers. Everything here is a no-op that
// allocates nothing until the SDK was started (tracing-sdk.ts, from register.ts), so a service
// without OTEL_* configuration pays one boolean test per call on its hot paths.
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/** Record or request headers as text. */
type TextHeaders = Readonly<Record<string, string | string[] | undefined>>;

let tracer: Tracer | undefined;
let sdk: { shutdown(): Promise<void> } | undefined;

/** Whether the SDK runs (OTEL_* configured): the hooks below are no-ops otherwise. */
export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

/** @internal Called by the bootstrap once the SDK is registered. */
export function tracingStarted(started: { shutdown(): Promise<void> }): void {
  sdk = started;
  tracer = trace.getTracer('massivesms');
}

/**
 * Flushes and stops the SDK, waiting at most `timeoutMs` (spans not exported by then are lost, the
 * shutdown bound wins). A no-op when tracing is off. The last step of a service's shutdown.
 */
export async function shutdownTracing(timeoutMs: number): Promise<void> {
  const running = sdk;
  if (!running) return;
  sdk = undefined;
  tracer = undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, timeoutMs));
  });
  try {
    await Promise.race([running.shutdown().catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

const getter: TextMapGetter<TextHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return Array.isArray(value) ? value[value.length - 1] : value;
  },
};

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The trace context that headers carry (`traceparent`, `tracestate`), or none. */
function contextOf(headers: TextHeaders | undefined): Context {
  return headers ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
}

/**
 * `traceparent`/`tracestate` of the active span, to put in the headers of a record the current
 * work produces (empty when tracing is off or nothing is active): `{ ...headers, ...traceHeaders() }`.
 */
export function traceHeaders(): Readonly<Record<string, string>> {
  if (!tracer) return EMPTY;
  const out: Record<string, string> = {};
  propagation.inject(context.active(), out, setter);
  return out;
}

/**
 * The trace context headers (`traceparent`, `tracestate`) among a consumed record's headers, to copy
 * into what is produced from it: `{ ...headers, ...traceContextOf(record.headers) }`.
 */
export function traceContextOf(
  headers: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> {
  const traceparent = headers?.traceparent;
  if (traceparent === undefined) return EMPTY;
  const tracestate = headers?.tracestate;
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/**
 * Runs `fn` with the trace context of a record's headers active (what a batch handler does for one
 * record of its batch), so spans and records it produces continue that record's trace.
 */
export function withTraceOf<T>(headers: TextHeaders | undefined, fn: () => T): T {
  if (!tracer || !headers?.traceparent) return fn();
  return context.with(contextOf(headers), fn);
}

/** Ends spans with the outcome of the work they cover: an error sets `error.type`, never its message. */
function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setAttribute('error.type', errorType(error));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** A bounded, content-free name for what failed: an error's code or class, never its message. */
function errorType(error: unknown): string {
  if (error && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code)) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(name)) return name;
  }
  return '_OTHER';
}

/** A record to produce, as far as tracing is concerned. */
interface RecordToSend {
  readonly topic: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * One PRODUCER span `send <topic>` per record, child of the trace context its headers carry (the
 * work that made it, possibly long ago through an outbox) or else of the active context; the
 * records come back with their headers pointing at their send span. Call `end` once the broker
 * acknowledged them (or with the error). The message key is never recorded: keys are pseudonyms.
 */
export function startSendSpans<R extends RecordToSend>(
  records: readonly R[],
): { readonly records: R[]; end(error?: unknown): void } {
  const t = tracer;
  if (!t) return { records: [...records], end: () => {} };
  const spans: Span[] = [];
  const out = records.map((record) => {
    const parent = record.headers?.traceparent ? contextOf(record.headers) : context.active();
    const span = t.startSpan(
      `send ${record.topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.name': 'send',
          'messaging.operation.type': 'send',
          'messaging.destination.name': record.topic,
        },
      },
      parent,
    );
    spans.push(span);
    const headers: Record<string, string> = { ...record.headers };
    propagation.inject(trace.setSpan(parent, span), headers, setter);
    return { ...record, headers };
  });
  return {
    records: out,
    end: (error) => {
      for (const span of spans) endSpan(span, error);
    },
  };
}

/**
 * A CONSUMER span `process <topic>` for one consumed record, child of the context its headers carry.
 * `headers` (the consumer's own copy) is rewritten to point at the new span, so whatever the handler
 * produces from the record, by copying its `traceparent`, continues the trace under its processing.
 * Returns undefined when tracing is off.
 */
export function startProcessSpan(
  record: { readonly topic: string; readonly partition: number; readonly offset: string },
  group: string,
  headers: Record<string, string>,
): Span | undefined {
  const t = tracer;
  if (!t) return undefined;
  const parent = contextOf(headers);
  const span = t.startSpan(
    `process ${record.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.name': 'process',
        'messaging.operation.type': 'process',
        'messaging.destination.name': record.topic,
        'messaging.destination.partition.id': String(record.partition),
        'messaging.consumer.group.name': group,
        'messaging.kafka.offset': Number(record.offset),
      },
    },
    parent,
  );
  propagation.inject(trace.setSpan(parent, span), headers, setter);
  return span;
}

/** Ends process spans (see startProcessSpan) with the batch's outcome. */
export function endSpans(spans: readonly (Span | undefined)[], error?: unknown): void {
  for (const span of spans) if (span) endSpan(span, error);
}

/** What an outbound HTTP call is, for its CLIENT span: no URL, path or query (they may carry data). */
export interface HttpCallInfo {
  readonly method: string;
  /** `server.address`: a host this service calls (a carrier's API, an internal service). Omit for customers' endpoints. */
  readonly host?: string;
  readonly port?: number;
  /** Extra attributes: ids only (carrier name, endpoint id), never personal data. */
  readonly attributes?: Attributes;
  /**
   * Put `traceparent` in the request's headers (calls between our own services). Off for third
   * parties (carriers, customers' endpoints): our trace ids are none of their business.
   */
  readonly propagate?: boolean;
}

/**
 * Runs an outbound HTTP call in a CLIENT span named by its method (HTTP semantic conventions).
 * `call` gets the headers to add (trace context when `propagate`) and returns the response status,
 * or a short error class when no response came.
 */
export async function traceHttpCall<
  R extends { readonly status?: number | undefined; readonly error?: string | undefined },
>(info: HttpCallInfo, call: (traceHeaders: Readonly<Record<string, string>>) => Promise<R>): Promise<R> {
  const t = tracer;
  if (!t) return call(EMPTY);
  const attributes: Attributes = { 'http.request.method': info.method, ...info.attributes };
  if (info.host !== undefined) attributes['server.address'] = info.host;
  if (info.port !== undefined) attributes['server.port'] = info.port;
  const span = t.startSpan(info.method, { kind: SpanKind.CLIENT, attributes });
  const headers: Record<string, string> = {};
  if (info.propagate) propagation.inject(trace.setSpan(context.active(), span), headers, setter);
  try {
    const result = await context.with(trace.setSpan(context.active(), span), () => call(headers));
    if (result.status !== undefined) span.setAttribute('http.response.status_code', result.status);
    const failed =
      result.error ??
      (result.status !== undefined && result.status >= 400 ? String(result.status) : undefined);
    if (failed !== undefined) {
      span.setAttribute('error.type', failed);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}

/** The part of a Fastify instance `traceFastify` needs (structural, so this lib needs no Fastify). */
interface HookableApp {
  addHook(
    name: 'onRequest',
    hook: (request: FastifyLikeRequest, reply: unknown, done: (error?: Error) => void) => void,
  ): unknown;
  addHook(
    name: 'onResponse',
    hook: (
      request: FastifyLikeRequest,
      reply: { readonly statusCode: number },
      done: (error?: Error) => void,
    ) => void,
  ): unknown;
}

interface FastifyLikeRequest {
  readonly method: string;
  readonly headers: TextHeaders;
  readonly routeOptions?: { readonly url?: string | undefined };
}

const spanOfRequest = new WeakMap<object, Span>();
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * SERVER spans for a Fastify app: named `<method> <route template>` (the template, never the URL,
 * which may carry ids or data in its path or query), child of the caller's `traceparent`, active
 * while the handler runs. Probes and scrapes are not traced. A no-op when tracing is off.
 */
export function traceFastify(app: HookableApp): void {
  if (!tracer) return;
  app.addHook('onRequest', (request, _reply, done) => {
    const t = tracer;
    const route = request.routeOptions?.url;
    if (!t || route === undefined || UNTRACED_PATHS.has(route)) return done();
    const parent = contextOf(request.headers);
    const span = t.startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'http.route': route },
      },
      parent,
    );
    spanOfRequest.set(request, span);
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spanOfRequest.get(request);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) {
        span.setAttribute('error.type', String(reply.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
    done();
  });
}
