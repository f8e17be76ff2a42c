import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Writes a bench report as JSON and formats it with the repository's Biome, so a committed report
 * passes the lint check (bin/test/repository.test.ts) as written: Biome keeps short arrays on one
 * line, which `JSON.stringify(…, null, 2)` does not.
 */
export function writeReport(path: string | URL, report: unknown): void {
  const file = typeof path === 'string' ? path : fileURLToPath(path);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  // Biome formats files of this repository only; a report written elsewhere stays as written.
  const inRepository = relative(fileURLToPath(new URL('..', import.meta.url)), file);
  if (inRepository.startsWith('..')) return;
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  execFileSync(process.execPath, [biome, 'format', '--write', file], { stdio: 'ignore' });
}
