import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const services = readdirSync(new URL('services/', root), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

/** Relative link targets of a Markdown file (no URLs, no in-page anchors), without their anchors. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/.test(target) && !target.startsWith('#'))
    .map((target) => target.replace(/#.*$/, ''));
}

describe('the documentation', () => {
  it('every service has a README', () => {
    for (const service of services)
      expect(
        existsSync(new URL(`services/${service}/README.md`, root)),
        `services/${service}/README.md`,
      ).toBe(true);
  });

  it('the README is self-contained and links every guide, the API description and every service README', () => {
    const readme = read('README.md');
    expect(readme).not.toMatch(/\.\.\/shared|shared\/DESIGN/);
    const links = relativeLinks(readme);
    for (const target of [
      'docs/producers.md',
      'docs/webhooks.md',
      'services/control/openapi.json',
      'docs/operations.md',
      'docs/data-subject-requests.md',
      ...services.map((s) => `services/${s}/README.md`),
    ])
      expect(links, target).toContain(target);
  });

  it('relative links in the README, docs/ and the service READMEs resolve', () => {
    const files = [
      'README.md',
      ...readdirSync(new URL('docs/', root))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
      ...services.map((s) => `services/${s}/README.md`),
    ];
    const broken: string[] = [];
    for (const file of files)
      for (const target of relativeLinks(read(file)))
        if (!existsSync(new URL(target, new URL(file, root)))) broken.push(`${file} → ${target}`);
    expect(broken).toEqual([]);
  });
});
