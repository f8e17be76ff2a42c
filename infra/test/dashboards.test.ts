import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dashboardsDir, renderDashboards } from '../grafana/src/generate.ts';
import { DATASOURCE_VARIABLE } from '../grafana/src/panels.ts';
import { defaultMetrics, metricDefinitions, seriesNames } from '../src/metrics-table.ts';
import { promqlMetricNames } from '../src/promql-names.ts';
import { ensurePromtool } from '../src/promtool.ts';

interface Target {
  expr: string;
  refId: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid?: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const rendered = renderDashboards();
const dashboards = [...rendered].map(([file, text]) => [file, JSON.parse(text) as Dashboard] as const);
const alertsFile = fileURLToPath(new URL('../prometheus/alerts.yml', import.meta.url));
const alertExprs = (
  parse(readFileSync(alertsFile, 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] }
).groups.flatMap((g) => g.rules.map((r) => ({ where: `alerts.yml ${r.alert}`, expr: r.expr })));
const dashboardExprs = dashboards.flatMap(([file, d]) =>
  d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `${file} "${p.title}" ${t.refId}`, expr: t.expr })),
  ),
);

describe('Grafana dashboards (infra/grafana)', () => {
  it('the committed JSON is what `npm run dashboards` generates', () => {
    const committed = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json'));
    expect(committed.sort(), 'run npm run dashboards').toEqual([...rendered.keys()].sort());
    for (const [file, text] of rendered)
      expect(
        readFileSync(join(dashboardsDir, file), 'utf8'),
        `${file} is stale: run npm run dashboards`,
      ).toBe(text);
  });

  it('there are an overview, one per service and one for privacy/audit', () => {
    expect(dashboards.map(([, d]) => d.uid).sort()).toEqual([
      'massivesms-audit',
      'massivesms-control',
      'massivesms-dispatcher',
      'massivesms-overview',
      'massivesms-router',
      'massivesms-webhooks',
    ]);
  });

  it.each(dashboards)('%s: variables, datasource, ids and layout', (_file, d) => {
    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.get('cell')).toMatchObject({ type: 'custom', query: 'us,eu' });
    // No datasource uid written anywhere: every reference is the variable.
    const uids = [...JSON.stringify(d).matchAll(/"uid":"([^"]*)"/g)].map((m) => m[1]);
    expect(uids.filter((u) => u !== DATASOURCE_VARIABLE && u !== d.uid)).toEqual([]);
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource?.uid, p.title).toBe(DATASOURCE_VARIABLE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.datasource?.uid).toBe(DATASOURCE_VARIABLE);
        expect(t.expr, `${p.title}: filter on the cell`).toContain('cell="$cell"');
      }
    }
  });
});

describe('PromQL of the dashboards and alerts', () => {
  let promtool = '';
  beforeAll(() => {
    promtool = ensurePromtool();
  }, 300_000);

  it('the name extractor sees metrics, not functions, labels, keywords or variables', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (group, le) (rate(a_seconds_bucket{cell="$cell",x=~"b.*"}[$__rate_interval]))) / clamp_min(sum(rate(c_total[5m])) without (pod), 1e-9) > bool 2 and on (cell) time() - d_timestamp_seconds offset 5m',
      ).sort(),
    ).toEqual(['a_seconds_bucket', 'c_total', 'd_timestamp_seconds']);
  });

  it('every expression parses (promtool check rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboards-promql-'));
    try {
      const rules = dashboardExprs.map((e, i) => ({
        record: `dashboard:expr_${i}`,
        expr: e.expr.replaceAll('$__rate_interval', '5m').replaceAll('$cell', 'us'),
      }));
      const file = join(dir, 'rules.json');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboards', rules }] }));
      const out = execFileSync(promtool, ['check', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
      expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every metric they query is one the services export (docs/metrics.md and prom-client defaults)', async () => {
    const exported = new Set([...metricDefinitions(), ...(await defaultMetrics())].flatMap(seriesNames));
    exported.add('up'); // Prometheus's own, per scrape target
    const unknown = [...dashboardExprs, ...alertExprs].flatMap((e) =>
      promqlMetricNames(e.expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${e.where}: ${name}`),
    );
    expect(unknown).toEqual([]);
    expect(dashboardExprs.length).toBeGreaterThan(50);
  });
});
