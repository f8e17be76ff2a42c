import { readFileSync, writeFileSync } from 'node:fs';
import { webhookEventTypes, webhookPayloadSchema } from '@massivesms/contracts';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlHarness, startControl } from './harness.ts';

const committed = new URL('../openapi.json', import.meta.url);

describe('OpenAPI document', () => {
  let h: ControlHarness;
  let document: {
    openapi: string;
    paths: Record<string, Record<string, unknown>>;
    webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
  };

  beforeAll(async () => {
    h = await startControl();
    document = (await fetch(`${h.url}/openapi.json`).then((r) => r.json())) as typeof document;
  });
  afterAll(() => h.close());

  it('is a valid OpenAPI 3.1 document (independent validator)', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('is committed as services/control/openapi.json (regenerate with UPDATE_OPENAPI=1)', () => {
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (process.env.UPDATE_OPENAPI === '1') writeFileSync(committed, text);
    expect(readFileSync(committed, 'utf8')).toBe(text);
  });

  it('describes exactly the routes the running service answers under /v1', async () => {
    const documented = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    // Ask the running service: every documented route answers something other than "no such route".
    for (const entry of documented) {
      const [method, template] = entry.split(' ') as [string, string];
      const path = template
        .replace('{controllerId}', 'acme')
        .replace('{endpointId}', 'ep_x')
        .replace('{version}', '1')
        .replace('{messageId}', 'msg_x')
        .replace('{webhookId}', 'msg_y');
      const res = await h.call(method, path, {
        body: method === 'GET' || method === 'DELETE' ? undefined : {},
      });
      expect(res.body?.detail, entry).not.toBe('no such route');
    }
    // And every /v1 route the app registered is documented.
    expect(h.control.routes.filter((r) => r.includes(' /v1/')).sort()).toEqual(documented);
  });

  it('has a `webhooks` section with every event type an endpoint can subscribe to, its payload from libs/contracts', () => {
    expect(Object.keys(document.webhooks)).toEqual([...webhookEventTypes]);
    const delivered =
      document.webhooks['message.delivered']?.post.requestBody.content['application/json']?.schema;
    expect(delivered).toMatchObject({
      properties: {
        type: { const: 'message.delivered' },
        data: { properties: { status: { const: 'delivered' } } },
      },
    });
    // The payload schema is the contract's: a body the contract refuses has no place in the document.
    expect(webhookPayloadSchema('message.delivered').safeParse({ type: 'message.failed' }).success).toBe(
      false,
    );
  });
});
