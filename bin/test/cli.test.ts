import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestSchema } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cli = fileURLToPath(new URL('../massivesms.ts', import.meta.url));

/** Runs the CLI as a user would, on the same Node as the tests; resolves with code and output. */
async function massivesms(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('Node.js runtime', () => {
  it('runs the tests on Node 24', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
  });

  it('gives every npm script Node 24, not the system node', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'node-version'], { cwd: repoRoot });
    expect(stdout.trim()).toMatch(/^v24\.\d+\.\d+$/);
  });
});

describe('massivesms entry points', () => {
  it('a service refuses to start on a bad environment and names every bad variable', async () => {
    const result = await massivesms(['router'], { CELL: 'apac', HTTP_PORT: '99999' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CELL');
    expect(result.stderr).toContain('HTTP_PORT');
    expect(result.stderr).toContain('KMS_MASTER_KEY');
  });

  it('migrate refuses a DATABASE_URL that is not PostgreSQL', async () => {
    const result = await massivesms(['migrate'], { DATABASE_URL: 'mysql://root@127.0.0.1/test' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('DATABASE_URL');
  });

  it('an unknown command prints the usage and exits 2', async () => {
    const result = await massivesms(['frobnicate'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: massivesms');
  });

  it('demo --help prints the usage; an unknown demo option is refused with it (exit 2), not a stack trace', async () => {
    const help = await massivesms(['demo', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('demo [--messages N] [--json]');
    const bad = await massivesms(['demo', '--bogus'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("massivesms demo: Unknown option '--bogus'");
    expect(bad.stderr).not.toContain('    at ');
  });

  describe('against the real database', () => {
    let schema: TestSchema;
    beforeAll(async () => {
      schema = await createTestDatabase('cli');
    });
    afterAll(() => schema.drop());

    it('migrate connects and applies the registered migrations', async () => {
      const result = await massivesms(['migrate'], { DATABASE_URL: schema.url, LOG_LEVEL: 'info' });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/"msg":"(no service has migrations yet|migrations applied)"/);
    });
  });
});

describe('massivesms control configuration', () => {
  it('refuses a malformed webhook allow-list entry and a non-numeric retention maximum, naming both', async () => {
    const result = await massivesms(['control'], {
      CELL: 'us',
      KMS_MASTER_KEY: Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1)).toString('base64'),
      CONTROL_WEBHOOK_ALLOWLIST: '127.0.0.1,*.internal',
      CONTROL_MAX_CONTENT_RETENTION_DAYS: 'forever',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CONTROL_WEBHOOK_ALLOWLIST');
    expect(result.stderr).toContain('CONTROL_MAX_CONTENT_RETENTION_DAYS');
  });
});

describe('massivesms simulate', () => {
  it('starts the Telnyx simulator, which accepts a message with the configured key', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      [cli, 'simulate', 'telnyx', '--port', '0', '--api-key', 'KEY_TEST'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(d.toString()));
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const info = JSON.parse(line) as { baseUrl: string; publicKey: string };
      expect(info.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      const res = await fetch(`${info.baseUrl}/messages`, {
        method: 'POST',
        headers: { authorization: 'Bearer KEY_TEST', 'content-type': 'application/json' },
        body: JSON.stringify({ to: '+14155552671', from: '+14155550100', text: 'hello' }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: { id: string } }).data.id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses an unknown simulator', async () => {
    const result = await massivesms(['simulate', 'carrier-pigeon'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: massivesms simulate');
  });
});
