import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commonSpec } from './common.ts';
import { ConfigDocsError, ConfigSpecError } from './errors.ts';
import { localInfraSpec } from './local-infra.ts';
import { acceptsUnset, type ConfigSpec, type ConfigVariable } from './spec.ts';

/** The one configuration table of the repository (STYLE.md: one table, checked against the schema). */
export const configDocsPath: string = fileURLToPath(
  new URL('../../../docs/configuration.md', import.meta.url),
);

/** The lib's own specs; bin/specs.ts adds every service's for docs/configuration.md. */
export const documentedSpecs: readonly ConfigSpec[] = [commonSpec, localInfraSpec];

/** Marks the start of the generated table; everything up to TABLE_END is rewritten. */
export const TABLE_BEGIN =
  '<!-- config-table:begin (generated from libs/config; regenerate with `UPDATE_DOCS=1 npx vitest run bin/test/configuration-docs.test.ts`) -->';
/** Marks the end of the generated table. */
export const TABLE_END = '<!-- config-table:end -->';

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function requirement(variable: ConfigVariable, quote: (text: string) => string = cell): string {
  const base =
    variable.default !== undefined
      ? `default \`${quote(variable.default)}\``
      : acceptsUnset(variable)
        ? 'optional'
        : 'required';
  return variable.secret === true ? `${base}, secret` : base;
}

/** Wraps `text` to lines of at most `width` characters (a longer word keeps its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/**
 * The variables of the specs for a command's `--help`, from the same definitions as the Markdown
 * table (name, default or required, description), in spec order, each variable once, wrapped for a
 * terminal. A secret's value is never shown (secrets have no default).
 */
export function renderConfigHelp(specs: readonly ConfigSpec[], width = 100): string {
  const seen = new Set<string>();
  const blocks: string[] = [];
  for (const spec of specs) {
    for (const [name, variable] of Object.entries(spec)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const plain = (text: string) => text.replace(/`/g, '');
      const description = wrap(plain(variable.description), width - 6).map((l) => `      ${l}`);
      const needed = plain(requirement(variable, (text) => text));
      blocks.push([`  ${name}  (${needed})`, ...description].join('\n'));
    }
  }
  return blocks.join('\n');
}

/** Renders the variables of the specs as one Markdown table, in spec order; a name in two specs must match. */
export function renderConfigTable(specs: readonly ConfigSpec[]): string {
  const seen = new Map<string, ConfigVariable>();
  const rows: string[][] = [];
  for (const spec of specs) {
    for (const [name, variable] of Object.entries(spec)) {
      const earlier = seen.get(name);
      if (earlier === undefined) {
        seen.set(name, variable);
        rows.push([`\`${name}\``, requirement(variable), cell(variable.description)]);
      } else if (earlier !== variable) {
        // Two definitions of one variable would make the single table lie for one of the services.
        throw new ConfigSpecError('defined differently in two documented specs', name);
      }
    }
  }
  return alignTable([['Variable', 'Required / default', 'Description'], ...rows]);
}

// Padded the way Biome formats Markdown tables, so `biome check --write` and the generator agree.
function alignTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(3, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header!), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Replaces the table between the markers of `document` with a freshly rendered one. */
export function renderConfigDocs(document: string, specs: readonly ConfigSpec[] = documentedSpecs): string {
  const begin = document.indexOf(TABLE_BEGIN);
  const end = document.indexOf(TABLE_END);
  if (begin < 0 || end < begin) {
    throw new ConfigDocsError(`expected "${TABLE_BEGIN}" followed by "${TABLE_END}"`);
  }
  const head = document.slice(0, begin + TABLE_BEGIN.length);
  return `${head}\n\n${renderConfigTable(specs)}\n\n${document.slice(end)}`;
}

/** Regenerates the table in docs/configuration.md in place; returns whether the file changed. */
export function writeConfigDocs(
  path: string = configDocsPath,
  specs: readonly ConfigSpec[] = documentedSpecs,
): boolean {
  const current = readFileSync(path, 'utf8');
  const next = renderConfigDocs(current, specs);
  if (next !== current) {
    writeFileSync(path, next);
  }
  return next !== current;
}
