import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { webhookCommandSchema } from './commands.ts';
import { deadLetterReplaySchema } from './dead-letters.ts';
import {
  auditCheckpointSchema,
  processingEventSchema,
  rejectionSchema,
  smsRequestSchema,
  statusEventSchema,
} from './events.ts';
import { recordHeadersSchema } from './headers.ts';
import { privacyAckSchema, privacyRequestSchema } from './privacy-requests.ts';
import { dispatchRecordSchema, suppressionEventSchema } from './sms.ts';
import { controllerStateSchema, endpointStateSchema } from './state.ts';
import { endpointWebhookSchema, messageWebhookSchema } from './webhooks.ts';

/** Contracts exported as JSON Schema for producers and consumers in other languages. */
export const exportedSchemas = {
  'sms.requested.v1': smsRequestSchema,
  'sms.status.v1': statusEventSchema,
  'sms.rejected.v1': rejectionSchema,
  'sms.dispatch.v1': dispatchRecordSchema,
  'suppressions.v1': suppressionEventSchema,
  'audit.processing.v1': processingEventSchema,
  'audit.checkpoints.v1': auditCheckpointSchema,
  'record-headers.v1': recordHeadersSchema,
  'controllers.v1': controllerStateSchema,
  'endpoints.v1': endpointStateSchema,
  'deadletter.replayed.v1': deadLetterReplaySchema,
  'privacy.requests.v1': privacyRequestSchema,
  'privacy.acks.v1': privacyAckSchema,
  'webhooks.commands.v1': webhookCommandSchema,
  // Not topics: the bodies of the webhooks sent to customers' endpoints (docs/webhooks.md).
  'webhook.message.v1': messageWebhookSchema,
  'webhook.endpoint.v1': endpointWebhookSchema,
} as const;

/** Folder of the committed JSON Schema files. */
export const schemaDir = new URL('../schemas/', import.meta.url);

/** Renders every exported contract as JSON Schema text (what producers validate against). */
export function renderJsonSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, schema] of Object.entries(exportedSchemas)) {
    const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
    const withId = { $id: `https://schemas.massivesms.example/${name}.schema.json`, title: name, ...json };
    out.set(`${name}.schema.json`, `${JSON.stringify(withId, null, 2)}\n`);
  }
  return out;
}

/** Writes the JSON Schema files; run after changing a contract, then commit them. */
export function writeJsonSchemas(): string[] {
  const written: string[] = [];
  for (const [file, text] of renderJsonSchemas()) {
    const url = new URL(file, schemaDir);
    let current = '';
    try {
      current = readFileSync(url, 'utf8');
    } catch {}
    if (current !== text) {
      writeFileSync(url, text);
      written.push(file);
    }
  }
  return written;
}
