import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensurePromtool } from '../src/promtool.ts';

const dir = fileURLToPath(new URL('../prometheus/', import.meta.url));

// The alert rules as Prometheus loads them: promtool parses every expression and runs the cases of
// alerts.test.yml (each alert silent before its `for`, firing after it with its labels and summary).
describe('alert rules (promtool)', () => {
  let promtool = '';
  // The first run downloads Debian's prometheus package (about 20 MB).
  beforeAll(() => {
    promtool = ensurePromtool();
  }, 300_000);
  const run = (...args: string[]) =>
    execFileSync(promtool, args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' });

  it('parse', () => {
    expect(run('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('fire as the cases in alerts.test.yml expect', () => {
    expect(run('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });
});
