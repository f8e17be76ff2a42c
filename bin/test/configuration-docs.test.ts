import { readFileSync } from 'node:fs';
import { configDocsPath, renderConfigDocs, writeConfigDocs } from '@massivesms/config';
import { describe, expect, it } from 'vitest';
import { documentedSpecs } from '../specs.ts';

describe('docs/configuration.md', () => {
  it('documents every variable of every entry point, as the specs define it (UPDATE_DOCS=1 regenerates)', () => {
    if (process.env.UPDATE_DOCS === '1') writeConfigDocs(configDocsPath, documentedSpecs);
    const current = readFileSync(configDocsPath, 'utf8');
    expect(current, 'stale: run UPDATE_DOCS=1 npx vitest run bin/test/configuration-docs.test.ts').toBe(
      renderConfigDocs(current, documentedSpecs),
    );
  });
});
