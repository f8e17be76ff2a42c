import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderWebhookDocs, webhookDocsPath } from '../src/index.ts';

describe('docs/webhooks.md', () => {
  it('describes every event type and payload field as the contracts define them (UPDATE_DOCS=1 regenerates)', () => {
    const current = readFileSync(webhookDocsPath, 'utf8');
    if (process.env.UPDATE_DOCS === '1') writeFileSync(webhookDocsPath, renderWebhookDocs(current));
    expect(
      readFileSync(webhookDocsPath, 'utf8'),
      'stale: run UPDATE_DOCS=1 npx vitest run libs/contracts/test/webhook-docs.test.ts',
    ).toBe(renderWebhookDocs(current));
  });
});
