// The OpenAPI 3.1 `webhooks` section: what the webhooks service POSTs to the endpoints registered
// through this API, one entry per event type, each payload generated from libs/contracts (the same
// schemas the webhooks service builds its bodies with and docs/webhooks.md describes).

import type fastifySwagger from '@fastify/swagger';
import {
  type WebhookEventType,
  webhookEventSummaries,
  webhookEventTypes,
  webhookPayloadSchema,
} from '@massivesms/contracts';
import { z } from 'zod';

/** What @fastify/swagger takes as `openapi.webhooks` (OpenAPI 3.1 path items). */
type WebhooksMap = NonNullable<fastifySwagger.OpenAPIV3_2.Document['webhooks']>;

const header = (name: string, description: string, schema: Record<string, unknown>) => ({
  name,
  in: 'header',
  required: true,
  description,
  schema,
});

/** Standard Webhooks v1 headers, sent with every attempt. */
const headers = [
  header(
    'webhook-id',
    'Unique per event and endpoint, the same on every retry and resend: your idempotency key.',
    { type: 'string', pattern: '^msg_[A-Za-z0-9_-]+$' },
  ),
  header(
    'webhook-timestamp',
    'Unix seconds when this attempt was signed (fresh on every attempt); refuse one more than 5 minutes off.',
    { type: 'string', pattern: '^[0-9]+$' },
  ),
  header(
    'webhook-signature',
    'Space-separated `v1,<base64 HMAC-SHA256>` entries over `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64-decoded part of your `whsec_` secret; during a rotation one per valid secret: accept the request if any matches.',
    { type: 'string', pattern: '^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$' },
  ),
];

function payload(type: WebhookEventType): Record<string, unknown> {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(webhookPayloadSchema(type), {
    target: 'draft-2020-12',
  }) as Record<string, unknown>;
  return schema;
}

/** The document's `webhooks` map: one POST per event type an endpoint can subscribe to. */
export function webhooksSection(): WebhooksMap {
  // JSON Schema 2020-12 objects from zod: structurally what OpenAPI 3.1 takes, not what its types spell.
  return Object.fromEntries(
    webhookEventTypes.map((type) => [
      type,
      {
        post: {
          operationId: `webhook_${type.replace('.', '_')}`,
          summary: type,
          description: `${webhookEventSummaries[type]} Verify the signature over the raw body before parsing it (docs/webhooks.md).`,
          tags: ['webhooks'],
          parameters: headers,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: payload(type) } },
          },
          responses: {
            '2XX': {
              description: 'Received: answer within 15 s, before processing. Anything else is retried.',
            },
            '410': { description: 'Gone: the endpoint is disabled and receives nothing more.' },
          },
        },
      },
    ]),
  ) as WebhooksMap;
}
