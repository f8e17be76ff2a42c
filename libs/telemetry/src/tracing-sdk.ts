// Starts @opentelemetry/sdk-node from the standard OTEL_* variables, only when an exporter is
// configured: unset, the SDK is not even loaded and tracing.ts stays a no-op. Traces only (metrics
// are prom-client's, logs pino's), no auto-instrumentation (the spans are hand-made, see tracing.ts),
// and every span goes through the scrubber on its way out, as a safety net behind the rule that
// spans carry no number, name or body.
import type { Attributes, AttributeValue, Link } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, TimedEvent } from '@opentelemetry/sdk-trace';
import { scrubString } from './scrub.ts';
import { tracingEnabled, tracingStarted } from './tracing.ts';

/** Whether the environment asks for traces: an OTLP endpoint or a trace exporter, and not disabled. */
export function tracingConfigured(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === 'none') return false;
  return Boolean(exporter || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts the SDK when `tracingConfigured(env)`; resolves to whether it runs. `defaultServiceName`
 * names the service when OTEL_SERVICE_NAME does not.
 */
export async function startTracing(
  env: NodeJS.ProcessEnv = process.env,
  defaultServiceName?: string,
): Promise<boolean> {
  if (tracingEnabled()) return true;
  if (!tracingConfigured(env)) return false;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const exporter = await exporterFromEnv(env);
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME || !defaultServiceName ? {} : { serviceName: defaultServiceName }),
    traceExporter: new ScrubbingExporter(exporter),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  tracingStarted(sdk);
  return true;
}

async function exporterFromEnv(env: NodeJS.ProcessEnv): Promise<SpanExporter> {
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'console') {
    const { ConsoleSpanExporter } = await import('@opentelemetry/sdk-trace');
    return new ConsoleSpanExporter();
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim();
  if (protocol === 'grpc')
    return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  if (protocol === 'http/json')
    return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

/** Attributes never exported: message keys (pseudonyms), bodies, headers, query parameters. */
const DROPPED_ATTRIBUTES = new Set([
  'messaging.kafka.message.key',
  'messaging.message.body',
  'url.query',
  'http.request.body',
  'http.response.body',
]);
const DROPPED_PREFIXES = [
  'http.request.header.',
  'http.response.header.',
  'db.query.parameter.',
  'enduser.',
  'user.',
];
/** Attributes that hold a URL: kept without their query and fragment. */
const URL_ATTRIBUTES = new Set(['url.full', 'http.url', 'http.target', 'url.path']);

function scrubAttributeValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return scrubString(value);
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === 'string' ? scrubString(v) : v)) as AttributeValue;
  }
  return value;
}

/** A copy of attributes without the dropped ones, URLs cut at `?`/`#`, and strings scrubbed. */
export function scrubAttributes(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (DROPPED_ATTRIBUTES.has(key) || DROPPED_PREFIXES.some((p) => key.startsWith(p))) continue;
    out[key] =
      URL_ATTRIBUTES.has(key) && typeof value === 'string'
        ? scrubString(value.replace(/[?#].*$/s, ''))
        : scrubAttributeValue(value);
  }
  return out;
}

/** The span as exported: name, attributes, events, links and status message scrubbed. */
export function scrubSpan(span: ReadableSpan): ReadableSpan {
  const events: TimedEvent[] = span.events.map((event) => ({
    ...event,
    name: scrubString(event.name),
    ...(event.attributes ? { attributes: scrubAttributes(event.attributes) } : {}),
  }));
  const links: Link[] = span.links.map((link) => ({
    ...link,
    ...(link.attributes ? { attributes: scrubAttributes(link.attributes) } : {}),
  }));
  const status =
    span.status.message === undefined
      ? span.status
      : { ...span.status, message: scrubString(span.status.message) };
  // The span itself stays the prototype: its context, times, resource and scope are read through it.
  return Object.assign(Object.create(span) as ReadableSpan, {
    name: scrubString(span.name),
    attributes: scrubAttributes(span.attributes),
    events,
    links,
    status,
  });
}

/** Scrubs every span on its way to the real exporter. */
export class ScrubbingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  constructor(inner: SpanExporter) {
    this.#inner = inner;
  }
  export(spans: ReadableSpan[], resultCallback: Parameters<SpanExporter['export']>[1]): void {
    this.#inner.export(spans.map(scrubSpan), resultCallback);
  }
  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
