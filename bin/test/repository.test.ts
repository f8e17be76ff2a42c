import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// CI runs only `npm test`; these keep `npm run typecheck` and `npm run lint` green on main too.
const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

async function npmRun(script: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('npm', ['run', '--silent', script], {
      cwd: repoRoot,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe('repository hygiene', () => {
  it('type-checks every package (npm run typecheck)', { timeout: 180_000 }, async () => {
    const result = await npmRun('typecheck');
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('passes Biome lint and format checks (npm run lint)', { timeout: 120_000 }, async () => {
    const result = await npmRun('lint');
    expect(result.code, result.output.slice(0, 4000)).toBe(0);
  });
});

// DESIGN: no service imports another service or reads its tables. Services talk through topics and
// each other's HTTP routes; what they share lives in libs/. Tests and bin/ may start several services.
describe('service boundaries', () => {
  const servicesDir = join(repoRoot, 'services');
  const services = readdirSync(servicesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  const filesUnder = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  /** Every table a service's migrations create, with its owner. */
  const owners = new Map<string, string>();
  for (const service of services) {
    const dir = join(servicesDir, service, 'migrations');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')))
      for (const [, table] of readFileSync(join(dir, file), 'utf8').matchAll(
        /CREATE TABLE (?:IF NOT EXISTS )?(\w+)/gi,
      ))
        owners.set(table!.toLowerCase(), service);
  }

  it('finds the tables of every service (the check below is not vacuous)', () => {
    for (const service of services) expect([...owners.values()], service).toContain(service);
  });

  it.each(services)('%s imports no other service and names none of their tables', (service) => {
    const found: string[] = [];
    const pkg = JSON.parse(readFileSync(join(servicesDir, service, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const name of Object.keys(pkg.dependencies ?? {}))
      for (const other of services)
        if (other !== service && name === `@massivesms/${other}`)
          found.push(`package.json depends on ${name}`);
    for (const file of filesUnder(join(servicesDir, service, 'src'))) {
      const where = relative(repoRoot, file);
      const text = readFileSync(file, 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const other = /^@massivesms\/([^/]+)/.exec(spec!)?.[1];
        if (other && other !== service && services.includes(other)) found.push(`${where} imports ${spec}`);
        if (spec!.startsWith('.') && !join(file, '..', spec!).startsWith(join(servicesDir, service)))
          found.push(`${where} imports ${spec} (outside the service)`);
      }
      for (const [table, owner] of owners)
        if (owner !== service && new RegExp(`\\b${table}\\b`, 'i').test(text))
          found.push(`${where} names ${owner}'s table ${table}`);
    }
    expect(found).toEqual([]);
  });
});
