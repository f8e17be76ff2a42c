// `npm run dashboards`: writes every dashboard of dashboards.ts to infra/grafana/dashboards/<name>.json.
// The JSON is committed (Grafana provisioning or the UI import reads it); infra/test/dashboards.test.ts
// fails when it differs from what this renders.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboards } from './dashboards.ts';

/** Where the generated JSON lives. */
export const dashboardsDir = fileURLToPath(new URL('../dashboards/', import.meta.url));

/** Every dashboard's file name and text, as written. */
export function renderDashboards(): Map<string, string> {
  return new Map(
    Object.entries(dashboards).map(([name, json]) => [`${name}.json`, `${JSON.stringify(json, null, 2)}\n`]),
  );
}

/** Writes the dashboards (and removes JSON no dashboard produces any more). */
export function writeDashboards(dir = dashboardsDir): string[] {
  mkdirSync(dir, { recursive: true });
  const files = renderDashboards();
  for (const old of readdirSync(dir)) if (old.endsWith('.json') && !files.has(old)) rmSync(join(dir, old));
  for (const [file, text] of files) writeFileSync(join(dir, file), text);
  return [...files.keys()];
}

/** A text outline of every dashboard (rows, panels, queries): for review without a Grafana. */
export function outline(): string {
  const lines: string[] = [];
  for (const [name, d] of Object.entries(dashboards)) {
    const vars = (d.templating?.list ?? []).map((v) => `$${v.name} (${v.type})`).join(', ');
    lines.push(`${name}.json: ${d.title}  [${vars}]`);
    for (const p of (d.panels ?? []) as {
      type: string;
      title?: string;
      gridPos?: { x: number; y: number; w: number; h: number };
      targets?: { expr?: string; legendFormat?: string }[];
    }[]) {
      const at = p.gridPos ? ` @${p.gridPos.x},${p.gridPos.y} ${p.gridPos.w}x${p.gridPos.h}` : '';
      if (p.type === 'row') lines.push(`  ── ${p.title}`);
      else {
        lines.push(`    ${p.title} (${p.type}${at})`);
        for (const t of p.targets ?? []) lines.push(`      ${t.expr}   → ${t.legendFormat}`);
      }
    }
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--list')) console.log(outline());
  else for (const file of writeDashboards()) console.log(`infra/grafana/dashboards/${file}`);
}
