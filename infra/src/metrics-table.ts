// docs/metrics.md: one table of every metric the code registers, read from the registration sites
// themselves (`new Counter|Gauge|Histogram({ name, help, labelNames })` in services/*/src and
// libs/*/src, parsed with the TypeScript compiler), plus prom-client's default process metrics from a
// registry. infra/test/metrics-docs.test.ts fails when the file is stale; bin/test/metrics-scrape.test.ts
// checks the table against a scrape of every running service, both ways.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import ts from 'typescript';
import { repoRoot } from './paths.ts';

export const metricsDocsPath = join(repoRoot, 'docs/metrics.md');

/** One metric as registered in the code. */
export interface MetricDefinition {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly help: string;
  readonly labels: readonly string[];
  /** Repository path of the file registering it. */
  readonly source: string;
  /** `router`, `dispatcher`, … for a service's own metric; `all` for a library's (libs/metrics). */
  readonly owner: string;
}

const TYPES = { Counter: 'counter', Gauge: 'gauge', Histogram: 'histogram', Summary: 'summary' } as const;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function literal(node: ts.Expression | undefined, where: string): string {
  while (node && ts.isAsExpression(node)) node = node.expression;
  if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) return node.text;
  throw new Error(
    `${where}: metric names, help and labels must be string literals (docs/metrics.md reads them)`,
  );
}

/** Every metric registered under services/*\/src and libs/*\/src, sorted by name. */
export function metricDefinitions(root = repoRoot): MetricDefinition[] {
  const files = ['services', 'libs'].flatMap((top) =>
    readdirSync(join(root, top))
      .map((pkg) => join(root, top, pkg, 'src'))
      .filter((src) => statSync(src, { throwIfNoEntry: false })?.isDirectory())
      .flatMap(tsFiles),
  );
  const found: MetricDefinition[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('prom-client')) continue;
    const source = relative(root, file);
    const owner = source.startsWith('services/') ? source.split('/')[1]! : 'all';
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node) => {
      if (
        ts.isNewExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text in TYPES &&
        node.arguments?.[0] &&
        ts.isObjectLiteralExpression(node.arguments[0])
      ) {
        const where = `${source}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
        const props = new Map<string, ts.Expression>();
        for (const p of node.arguments[0].properties)
          if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) props.set(p.name.text, p.initializer);
        let labels: ts.Expression | undefined = props.get('labelNames');
        while (labels && ts.isAsExpression(labels)) labels = labels.expression;
        found.push({
          name: literal(props.get('name'), where),
          type: TYPES[node.expression.text as keyof typeof TYPES],
          help: literal(props.get('help'), where),
          labels:
            labels && ts.isArrayLiteralExpression(labels)
              ? labels.elements.map((e) => literal(e as ts.Expression, where))
              : [],
          source,
          owner,
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** prom-client's default metrics (every service collects them): name and type. */
export async function defaultMetrics(): Promise<{ name: string; type: string }[]> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const json = await registry.getMetricsAsJSON();
  return json
    .map((m) => ({ name: m.name, type: String(m.type) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Series names a metric exposes (histograms: `_bucket`, `_sum`, `_count`). */
export function seriesNames(m: { name: string; type: string }): string[] {
  return m.type === 'histogram'
    ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]
    : m.type === 'summary'
      ? [m.name, `${m.name}_sum`, `${m.name}_count`]
      : [m.name];
}

// Padded the way Biome formats Markdown tables (as libs/config's docs), so both agree.
function alignTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(3, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header!), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The whole of docs/metrics.md. */
export async function renderMetricsDocs(): Promise<string> {
  const defs = metricDefinitions();
  const owners = ['all', 'router', 'dispatcher', 'webhooks', 'audit', 'control'];
  const lines = [
    '# Metrics',
    '',
    '<!-- generated by infra/src/metrics-table.ts from the registration sites; regenerate with',
    '     `UPDATE_DOCS=1 npx vitest run infra/test/metrics-docs.test.ts` -->',
    '',
    'Every service serves Prometheus text on `GET /metrics` (its `HTTP_PORT`). Every series carries',
    'the label `cell` (`us`, `eu`; the registry default label), besides the labels listed. Labels hold',
    'small fixed sets of values (carrier, outcome, class, state, topic, consumer group, partition, error',
    'code): never a phone number, pseudonym, message or controller id, or URL.',
    '`promtool check metrics` passes on a scrape of every service (bin/test/metrics-scrape.test.ts,',
    'which also checks this table against those scrapes, both ways). How to read them: [operations](operations.md).',
    '',
  ];
  const titles: Record<string, string> = {
    all: 'Every service (libs/metrics: consumers, producer, consumer lag, outbox)',
  };
  for (const owner of owners) {
    const mine = defs.filter((d) => d.owner === owner);
    if (mine.length === 0) continue;
    lines.push(`## ${titles[owner] ?? owner}`, '');
    const rows = mine.map((d) => [
      `\`${d.name}\``,
      d.type,
      d.labels.map((l) => `\`${l}\``).join(', '),
      cell(d.help),
    ]);
    lines.push(alignTable([['Metric', 'Type', 'Labels', 'Meaning'], ...rows]), '');
  }
  lines.push(
    '## Process metrics (prom-client defaults, every service)',
    '',
    'CPU, memory, event loop, garbage collection and handles of the Node.js process:',
    '',
    (await defaultMetrics()).map((m) => `\`${m.name}\` (${m.type})`).join(', '),
    '',
  );
  return lines.join('\n');
}
