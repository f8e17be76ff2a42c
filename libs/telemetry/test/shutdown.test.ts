import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('./fixtures/drain-on-signal.ts', import.meta.url));

/** Starts the fixture, sends SIGTERM once it is up; resolves with its exit code, time to exit and log. */
async function terminate(mode: 'stops' | 'hangs' | 'fails') {
  const child = spawn(process.execPath, [entry, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const up = Promise.withResolvers<void>();
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    if (output.includes('"msg":"ready"')) up.resolve();
  });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  await up.promise;
  const signalled = performance.now();
  child.kill('SIGTERM');
  const [code] = await exited;
  return { code, ms: performance.now() - signalled, output };
}

describe('drainOnSignal', () => {
  it('exits 0 once stop is done, even when an abandoned client keeps the event loop busy', async () => {
    const { code, ms, output } = await terminate('stops');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(1_000);
    expect(output).toContain('"msg":"stopped"');
  });

  it('exits 1 when stop outlasts the shutdown budget', async () => {
    const { code, ms, output } = await terminate('hangs');
    expect(code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(1_000);
    expect(ms).toBeLessThan(3_000);
    expect(output).toContain('shutdown budget exceeded');
  });

  it('exits 1 at once when stop fails', async () => {
    const { code, ms, output } = await terminate('fails');
    expect(code).toBe(1);
    expect(ms).toBeLessThan(1_000);
    expect(output).toContain('error while stopping');
  });
});
