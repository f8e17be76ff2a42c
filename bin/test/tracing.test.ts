// Tracing end to end (issue 14): router, dispatcher, webhooks and audit run as the processes
// `massivesms` starts, on real Kafka and PostgreSQL, exporting their spans over OTLP/HTTP (JSON) to a
// collector in this test. One request produced with a known traceparent must come out as one trace:
// router, dispatcher (with its carrier call), webhooks (with its delivery to the receiver) and audit,
// each hop the child of the one before; and no span anywhere may carry the request's number, body or
// the name in it. Spans are exported every 60 s only, so what the collector gets is what each service
// flushed on SIGTERM: the test also shows that a stopping service loses no span.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually, webhookStatusChange } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type FaultPipeline, SERVICES, startFaultPipeline } from './faults/pipeline.ts';

interface OtlpSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

const KIND = { server: 2, client: 3, producer: 4, consumer: 5 } as const;

/** OTLP/JSON ids are hex; accept base64 too (protobuf-JSON mapping), so a change of encoder is caught here. */
function hexId(id: unknown): string {
  if (typeof id !== 'string' || id === '') return '';
  return /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
}

function attributeValue(value: Record<string, unknown> | undefined): unknown {
  if (!value) return undefined;
  const [[, v] = []] = Object.entries(value);
  return v;
}

/** A collector: every OTLP/HTTP JSON export, raw (for the personal-data scan) and decoded. */
async function startCollector(): Promise<{
  url: string;
  raw: string[];
  spans: OtlpSpan[];
  close(): Promise<void>;
}> {
  const raw: string[] = [];
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      raw.push(text);
      try {
        const body = JSON.parse(text) as {
          resourceSpans?: {
            resource?: { attributes?: { key: string; value: Record<string, unknown> }[] };
            scopeSpans?: { spans?: Record<string, unknown>[] }[];
          }[];
        };
        for (const rs of body.resourceSpans ?? []) {
          const service = String(
            attributeValue(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value) ?? '',
          );
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              const attributes: Record<string, unknown> = {};
              for (const a of (s.attributes ?? []) as { key: string; value: Record<string, unknown> }[])
                attributes[a.key] = attributeValue(a.value);
              spans.push({
                service,
                traceId: hexId(s.traceId),
                spanId: hexId(s.spanId),
                parentSpanId: hexId(s.parentSpanId),
                name: String(s.name),
                kind: Number(s.kind),
                attributes,
              });
            }
          }
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    raw,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('tracing across the pipeline', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let p: FaultPipeline;

  beforeAll(async () => {
    collector = await startCollector();
    p = await startFaultPipeline({
      also: ['audit'],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      },
    });
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    await collector?.close();
  });

  it('one trace from the produced request to the received webhook, with no personal data', {
    timeout: 120_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const messageId = `trace-${randomBytes(4).toString('hex')}`;
    const name = 'Zebedee Quillfeather';
    const body = `Hello ${name}, your parcel 7731 is on its way.`;
    await p.produceRequests([{ messageId, controllerId: 'acme', to: '+14155550187', body }], {
      traceparent: `00-${traceId}-${parentId}-01`,
    });
    // Its terminal webhook (`delivered`, after Telnyx's receipt) was acknowledged.
    await p.awaitTerminalWebhooks(1, 60_000);
    expect(p.receiver.received.some((r) => webhookStatusChange(r.body)?.messageId === messageId)).toBe(true);
    // The ledger has the dispatcher's send and the webhooks' delivery events of the message (the audit
    // service processed them).
    await eventually(30_000, async () => {
      const entries = (await p.ledger()).map(
        (row) => JSON.parse(row.entry.toString()) as Record<string, unknown>,
      );
      for (const service of ['dispatcher', 'webhooks'])
        if (!entries.some((e) => e.messageId === messageId && e.service === service))
          throw new Error(`no ${service} event of the message in the ledger yet`);
    });
    expect(collector.spans.filter((s) => s.traceId === traceId)).toEqual([]); // nothing exported yet
    await Promise.all([...SERVICES, 'audit' as const].map((service) => p.stop(service)));

    const topic = {
      requested: p.topic('sms.requested.v1'),
      dispatch: p.topic('sms.dispatch.v1'),
      status: p.topic('sms.status.v1'),
      audit: p.topic('audit.processing.v1'),
    };
    const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
    const one = (what: string, match: (s: OtlpSpan) => boolean) => {
      const found = inTrace().filter(match);
      if (found.length === 0) throw new Error(`no ${what} in the trace`);
      return found;
    };
    const childOf = (children: OtlpSpan[], parents: OtlpSpan[], what: string) => {
      const ids = new Set(parents.map((s) => s.spanId));
      const linked = children.filter((c) => ids.has(c.parentSpanId));
      if (linked.length === 0) throw new Error(`${what}: not the child of the hop before`);
      return linked;
    };
    {
      const routerProcess = one(
        'router process span',
        (s) =>
          s.service === 'massivesms-router' &&
          s.kind === KIND.consumer &&
          s.name === `process ${topic.requested}`,
      );
      expect(routerProcess.map((s) => s.parentSpanId)).toContain(parentId);
      const routerSend = childOf(
        one(
          'router send span',
          (s) => s.service === 'massivesms-router' && s.name === `send ${topic.dispatch}`,
        ),
        routerProcess,
        'router send',
      );
      const dispatcherProcess = childOf(
        one(
          'dispatcher process span',
          (s) =>
            s.service === 'massivesms-dispatcher' &&
            s.kind === KIND.consumer &&
            s.name === `process ${topic.dispatch}`,
        ),
        routerSend,
        'dispatcher process',
      );
      childOf(
        one(
          'carrier call',
          (s) =>
            s.service === 'massivesms-dispatcher' &&
            s.kind === KIND.client &&
            s.attributes['massivesms.carrier'] !== undefined,
        ),
        dispatcherProcess,
        'carrier call',
      );
      const statusSend = childOf(
        one(
          'status send span',
          (s) => s.service === 'massivesms-dispatcher' && s.name === `send ${topic.status}`,
        ),
        dispatcherProcess,
        'status send',
      );
      const webhooksProcess = childOf(
        one(
          'webhooks process span',
          (s) =>
            s.service === 'massivesms-webhooks' &&
            s.kind === KIND.consumer &&
            s.name === `process ${topic.status}`,
        ),
        statusSend,
        'webhooks process',
      );
      childOf(
        one(
          'webhook delivery',
          (s) =>
            s.service === 'massivesms-webhooks' &&
            s.kind === KIND.client &&
            s.attributes['massivesms.endpoint.id'] === 'ep_acme' &&
            s.attributes['http.response.status_code'] === 200,
        ),
        webhooksProcess,
        'webhook delivery',
      );
      for (const service of ['massivesms-dispatcher', 'massivesms-webhooks']) {
        childOf(
          one(
            'audit process span',
            (s) => s.service === 'massivesms-audit' && s.name === `process ${topic.audit}`,
          ),
          one(
            `${service} processing event send`,
            (s) => s.service === service && s.name === `send ${topic.audit}`,
          ),
          `audit process of ${service}'s event`,
        );
      }
    }
    // The receipt came in through the dispatcher's ingress: a SERVER span named by its route template.
    const receipt = collector.spans.find(
      (s) =>
        s.service === 'massivesms-dispatcher' &&
        s.kind === KIND.server &&
        String(s.attributes['http.route']).startsWith('/receipts/'),
    );
    expect(receipt?.name).toBe('POST /receipts/telnyx/:controllerId/:messageId');
    expect(receipt?.attributes['http.response.status_code']).toBe(200);
    expect(collector.spans.filter((s) => s.name.includes(messageId))).toEqual([]);
    const spans = inTrace();
    for (const s of spans.filter((x) => x.name.startsWith('send ') || x.name.startsWith('process '))) {
      expect(s.attributes['messaging.system'], s.name).toBe('kafka');
      expect(s.attributes['messaging.destination.name'], s.name).toBe(s.name.split(' ')[1]);
    }

    // No span of any trace carries the number (in any written form), the body, the name, or a key.
    const everything = collector.raw.join('\n');
    for (const form of [
      '+14155550187',
      '14155550187',
      '4155550187',
      '(415) 555-0187',
      '415-555-0187',
      '415.555.0187',
      '415 555 0187',
      '%2B14155550187',
      body,
      name,
      'Zebedee',
      'Quillfeather',
      'parcel 7731',
    ]) {
      expect(everything.includes(form), `exported spans contain ${form}`).toBe(false);
    }
    expect(collector.spans.some((s) => 'messaging.kafka.message.key' in s.attributes)).toBe(false);
    expect(collector.spans.some((s) => Object.keys(s.attributes).some((k) => k.startsWith('url.')))).toBe(
      false,
    );
  });
});
