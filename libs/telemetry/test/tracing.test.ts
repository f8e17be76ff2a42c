import { type ProxyTracerProvider, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  endSpans,
  scrubSpan,
  shutdownTracing,
  startProcessSpan,
  startSendSpans,
  traceContextOf,
  traceHeaders,
  traceHttpCall,
  tracingConfigured,
  tracingEnabled,
  withTraceOf,
} from '../src/index.ts';
import { tracingStarted } from '../src/tracing.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const traceparent = `00-${TRACE}-${PARENT}-01`;

describe('tracing off (no OTEL_* configured)', () => {
  it('is off unless an exporter or endpoint is configured, and OTEL_SDK_DISABLED wins', () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' })).toBe(
      false,
    );
    expect(tracingConfigured({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' })).toBe(
      false,
    );
  });

  it('traceContextOf picks the trace context out of record headers', () => {
    expect(traceContextOf(undefined)).toEqual({});
    expect(traceContextOf({ region: 'us' })).toEqual({});
    expect(traceContextOf({ region: 'us', traceparent })).toEqual({ traceparent });
    expect(traceContextOf({ traceparent, tracestate: 'a=1', schema: 's' })).toEqual({
      traceparent,
      tracestate: 'a=1',
    });
  });

  it('leaves records and headers untouched and adds nothing', async () => {
    expect(tracingEnabled()).toBe(false);
    const records = [{ topic: 't', key: null, value: 'v', headers: { traceparent } }];
    const sent = startSendSpans(records);
    expect(sent.records[0]).toBe(records[0]);
    const headers = { traceparent };
    expect(startProcessSpan({ topic: 't', partition: 0, offset: '1' }, 'g', headers)).toBeUndefined();
    expect(headers).toEqual({ traceparent });
    expect(traceHeaders()).toEqual({});
    expect(withTraceOf(headers, () => traceHeaders())).toEqual({});
    expect(
      await traceHttpCall({ method: 'GET', propagate: true }, async (h) => ({ status: 200, h })),
    ).toEqual({
      status: 200,
      h: {},
    });
  });
});

describe('tracing on', () => {
  const exporter = new InMemorySpanExporter();
  beforeAll(() => {
    const sdk = new NodeSDK({
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
      metricReaders: [],
      logRecordProcessors: [],
    });
    sdk.start();
    tracingStarted(sdk);
  });
  beforeEach(() => exporter.reset());
  afterAll(() => shutdownTracing(1_000));

  // SimpleSpanProcessor exports asynchronously: flush before looking.
  const finished = async (): Promise<ReadableSpan[]> => {
    const provider = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as TracerProvider;
    await provider.forceFlush();
    return exporter.getFinishedSpans();
  };
  const idOf = (span: ReadableSpan) => span.spanContext().spanId;

  it('process → send → process: one trace, each hop the child of the one before, headers carrying it', async () => {
    const consumed: Record<string, string> = { traceparent, region: 'us' };
    const process = startProcessSpan({ topic: 'in', partition: 3, offset: '42' }, 'router', consumed);
    expect(consumed.region).toBe('us');
    expect(consumed.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(consumed.traceparent).not.toBe(traceparent);
    // The handler copies the header into what it produces (the outbox stores it as is).
    const out = startSendSpans([
      { topic: 'out', key: 'k', value: 'v', headers: { traceparent: consumed.traceparent! } },
    ]);
    out.end();
    endSpans([process]);
    const next: Record<string, string> = { ...out.records[0]!.headers };
    endSpans([startProcessSpan({ topic: 'out', partition: 0, offset: '7' }, 'dispatcher', next)]);

    const byName = new Map(
      (await finished()).map((s) => [`${s.name}:${s.attributes['messaging.consumer.group.name'] ?? ''}`, s]),
    );
    const router = byName.get('process in:router')!;
    const produced = byName.get('send out:')!;
    const dispatcher = byName.get('process out:dispatcher')!;
    expect(await finished()).toHaveLength(3);
    for (const span of [router, produced, dispatcher]) expect(span.spanContext().traceId).toBe(TRACE);
    expect(router.parentSpanContext?.spanId).toBe(PARENT);
    expect(produced.parentSpanContext?.spanId).toBe(idOf(router));
    expect(dispatcher.parentSpanContext?.spanId).toBe(idOf(produced));
    expect(router.attributes).toEqual({
      'messaging.system': 'kafka',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'in',
      'messaging.destination.partition.id': '3',
      'messaging.consumer.group.name': 'router',
      'messaging.kafka.offset': 42,
    });
    expect(produced.attributes).not.toHaveProperty('messaging.kafka.message.key');
    expect(out.records[0]!.headers.traceparent).toBe(`00-${TRACE}-${idOf(produced)}-01`);
  });

  it('a record without trace context starts a trace of its own; a failed send records error.type only', async () => {
    const sent = startSendSpans([{ topic: 'out', headers: {} }]);
    sent.end(Object.assign(new Error('broker said no to +14155550100'), { code: 'KAFKA_REFUSED' }));
    const [span] = await finished();
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.attributes['error.type']).toBe('KAFKA_REFUSED');
    expect(JSON.stringify(span!.attributes)).not.toContain('14155550100');
    expect(span!.status.message).toBeUndefined();
  });

  it('HTTP calls nest under the record being handled; only our own services get the context', async () => {
    await withTraceOf({ traceparent }, async () => {
      const carrier = await traceHttpCall(
        { method: 'POST', host: 'api.carrier.test', port: 443 },
        async (h) => ({
          status: 503,
          h,
        }),
      );
      expect(carrier.h).toEqual({});
      const internal = await traceHttpCall({ method: 'GET', propagate: true }, async (h) => ({
        status: 200,
        h,
      }));
      expect(internal.h.traceparent).toMatch(new RegExp(`^00-${TRACE}-`));
      expect(traceHeaders().traceparent).toBe(traceparent);
    });
    const spans = await finished();
    expect(spans).toHaveLength(2);
    for (const span of spans) expect(span.parentSpanContext?.spanId).toBe(PARENT);
    const carrier = spans.find((s) => s.attributes['server.address'] === 'api.carrier.test')!;
    expect(carrier.attributes['http.response.status_code']).toBe(503);
    expect(carrier.attributes['error.type']).toBe('503');
  });

  it('the exporter scrubs: message keys and headers dropped, URLs without query, numbers and e-mails replaced', async () => {
    const span = startSendSpans([{ topic: 'to +1 (415) 555-0100' }]);
    span.end();
    const raw = (await finished())[0]!;
    Object.assign(raw.attributes, {
      'messaging.kafka.message.key': 'acme:pseudonym',
      'url.full': 'https://hooks.example.com/in?to=%2B14155550100&name=jane',
      'http.request.header.authorization': 'Bearer x',
      note: 'write to jane@example.com or +44 20 7946 0958',
    });
    const scrubbed = scrubSpan(raw);
    expect(scrubbed.spanContext()).toEqual(raw.spanContext());
    expect(scrubbed.name).toBe('send to [redacted:phone]');
    expect(scrubbed.attributes).not.toHaveProperty('messaging.kafka.message.key');
    expect(scrubbed.attributes).not.toHaveProperty('http.request.header.authorization');
    expect(scrubbed.attributes['url.full']).toBe('https://hooks.example.com/in');
    expect(scrubbed.attributes.note).toBe('write to [redacted:email] or [redacted:phone]');
  });
});
