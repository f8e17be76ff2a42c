// promtool (Prometheus's rule checker) from Debian's `prometheus` package, fetched once into
// .local/tools: the alert rules are tested with the tool Prometheus itself uses to load them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

/** Where the extracted binary is kept between runs. */
export const promtoolPath = join(repoRoot, '.local/tools/promtool');

/** The path of promtool, downloading it with `apt-get download prometheus` on first use. */
export function ensurePromtool(): string {
  if (existsSync(promtoolPath)) return promtoolPath;
  mkdirSync(join(repoRoot, '.local/tools'), { recursive: true });
  const work = mkdtempSync(join(repoRoot, '.local/promtool-'));
  try {
    execFileSync('apt-get', ['download', 'prometheus'], { cwd: work, stdio: 'pipe', timeout: 300_000 });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download prometheus produced no .deb');
    execFileSync('dpkg-deb', ['-x', deb, 'root'], { cwd: work, stdio: 'pipe' });
    renameSync(join(work, 'root/usr/bin/promtool'), promtoolPath);
    return promtoolPath;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
