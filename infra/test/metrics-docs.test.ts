import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricDefinitions, metricsDocsPath, renderMetricsDocs } from '../src/metrics-table.ts';

describe('docs/metrics.md', () => {
  it('lists every registered metric as the code defines it (UPDATE_DOCS=1 regenerates)', async () => {
    const rendered = await renderMetricsDocs();
    if (process.env.UPDATE_DOCS === '1') writeFileSync(metricsDocsPath, rendered);
    expect(
      readFileSync(metricsDocsPath, 'utf8'),
      'stale: run UPDATE_DOCS=1 npx vitest run infra/test/metrics-docs.test.ts',
    ).toBe(rendered);
  });

  it('names follow the Prometheus conventions', () => {
    const defs = metricDefinitions();
    expect(defs.length).toBeGreaterThan(30);
    const names = new Set<string>();
    for (const d of defs) {
      expect(names.has(d.name), `${d.name} registered twice`).toBe(false);
      names.add(d.name);
      expect(d.name, d.source).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(d.name.endsWith('_total'), `${d.name}: _total is for counters only`).toBe(d.type === 'counter');
      expect(d.name, `${d.name}: base units`).not.toMatch(/_(ms|milliseconds|minutes|hours|kb|mb)(_|$)/);
      expect(d.name, `${d.name}: a service or massivesms prefix`).toMatch(
        /^(massivesms|router|dispatcher|webhooks|audit|control)_/,
      );
      // Never an unbounded label: no ids, numbers, URLs or bodies.
      for (const label of d.labels)
        expect(label, `${d.name}{${label}}`).not.toMatch(
          /id$|url|phone|number|to$|from$|body|pseudonym|recipient/i,
        );
    }
  });
});
