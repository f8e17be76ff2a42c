import { z } from 'zod';
import { webhookEventTypes } from './state.ts';
import { endpointWebhookSchema, messageWebhookSchema, webhookEventSummaries } from './webhooks.ts';

/** The guide for endpoint owners, whose payload section is generated from the webhook contracts. */
export const webhookDocsPath = new URL('../../../docs/webhooks.md', import.meta.url);

const BEGIN = '<!-- BEGIN GENERATED: webhook payloads (libs/contracts/src/webhook-docs.ts) -->';
const END = '<!-- END GENERATED: webhook payloads -->';

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  format?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(', ');
  if (s.format === 'date-time') return 'string (ISO 8601 time)';
  return s.type ?? 'any';
}

/** A Markdown table of one schema's fields, `data.*` expanded. */
function fieldTable(schema: z.ZodType): string {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12' }) as JsonSchema;
  const rows: string[][] = [['field', 'type', 'required', 'meaning']];
  const walk = (s: JsonSchema, prefix: string) => {
    for (const [name, field] of Object.entries(s.properties ?? {})) {
      const path = `${prefix}${name}`;
      const required = s.required?.includes(name) ? 'yes' : 'no';
      rows.push([`\`${path}\``, cell(typeOf(field)), required, cell(field.description ?? '')]);
      if (field.properties) walk(field, `${path}.`);
    }
  };
  walk(json, '');
  return markdownTable(rows);
}

/** A Markdown table padded the way Biome formats one, so `biome check --write` and the generator agree. */
function markdownTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(3, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header!), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The generated section: event types, then each payload family's fields. */
export function renderWebhookPayloads(): string {
  const types = markdownTable([
    ['event type', 'sent when', 'payload'],
    ...webhookEventTypes.map((t) => [
      `\`${t}\``,
      cell(webhookEventSummaries[t]),
      t.startsWith('message.') ? '[message](#message-events)' : '[endpoint](#endpoint-events)',
    ]),
  ]);
  return [
    BEGIN,
    '',
    types,
    '',
    '#### Message events',
    '',
    `JSON Schema: [\`webhook.message.v1\`](../libs/contracts/schemas/webhook.message.v1.schema.json). ${messageWebhookSchema.description ?? ''}`,
    '',
    fieldTable(messageWebhookSchema),
    '',
    '#### Endpoint events',
    '',
    `JSON Schema: [\`webhook.endpoint.v1\`](../libs/contracts/schemas/webhook.endpoint.v1.schema.json). ${endpointWebhookSchema.description ?? ''}`,
    '',
    fieldTable(endpointWebhookSchema),
    '',
    END,
  ].join('\n');
}

/** The guide with its generated section replaced by the current one. */
export function renderWebhookDocs(current: string): string {
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/webhooks.md lacks the markers ${BEGIN} … ${END}`);
  return current.slice(0, begin) + renderWebhookPayloads() + current.slice(end + END.length);
}
