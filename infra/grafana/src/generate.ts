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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const file of writeDashboards()) console.log(`infra/grafana/dashboards/${file}`);
}
