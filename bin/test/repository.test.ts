import { execFile } from 'node:child_process';
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
