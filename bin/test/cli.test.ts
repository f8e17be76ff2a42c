import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { auditSpec } from '@massivesms/audit/config';
import type { ConfigSpec } from '@massivesms/config';
import { controlSpec } from '@massivesms/control/config';
import { dispatcherSpec } from '@massivesms/dispatcher/config';
import { routerSpec } from '@massivesms/router/config';
import { createTestDatabase, freePort, type TestSchema } from '@massivesms/testkit';
import { webhooksSpec } from '@massivesms/webhooks/config';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditVerifySpec } from '../audit.ts';
import { breachScopeSpec } from '../breach-scope.ts';
import { deadLetterSpec } from '../deadletter.ts';
import { migrateSpec } from '../specs.ts';

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

/** A stack frame, which a user should never see for a usage mistake or an unreachable server. */
const STACK_FRAME = /^ {4}at /m;

const names = (...specs: ConfigSpec[]) => [...new Set(specs.flatMap((spec) => Object.keys(spec)))];
const CELL = ['CELL'];

/** Every command and subcommand, with the environment variables its help must name. */
const HELP: readonly (readonly [string, readonly string[]])[] = [
  ['control', names(controlSpec)],
  ['router', names(routerSpec)],
  ['dispatcher', names(dispatcherSpec)],
  ['webhooks', names(webhooksSpec)],
  ['audit', names(auditSpec)],
  ['audit verify', [...names(auditVerifySpec), ...CELL]],
  ['audit verify-export', []],
  ['breach-scope', [...names(breachScopeSpec), ...CELL]],
  ['migrate', names(migrateSpec)],
  ['deadletter', [...names(deadLetterSpec), ...CELL]],
  ['deadletter list', [...names(deadLetterSpec), ...CELL]],
  ['deadletter replay', [...names(deadLetterSpec), ...CELL]],
  ['deadletter rejected', [...names(deadLetterSpec), ...CELL]],
  ['deadletter replay-rejected', [...names(deadLetterSpec), ...CELL]],
  ['simulate', []],
  ['simulate telnyx', []],
  ['simulate twilio', []],
  ['simulate receiver', []],
  ['demo', []],
];

describe('massivesms --help', () => {
  let schema: TestSchema;
  let env: Record<string, string>;
  let port: number;
  beforeAll(async () => {
    // Everything a command would need to start, pointing at an empty database and an unused port:
    // a help that did anything else would leave tables there, or hold the port, or log.
    schema = await createTestDatabase('cli_help');
    port = await freePort();
    env = {
      DATABASE_URL: schema.url,
      CELL: 'us',
      HTTP_PORT: String(port),
      KMS_MASTER_KEY: Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1)).toString('base64'),
      KAFKA_BROKERS: '127.0.0.1:19092',
    };
  });
  afterAll(() => schema.drop());

  it.each(HELP)(
    'massivesms %s --help: the usage and every variable it reads, and nothing else',
    async (command, variables) => {
      const result = await massivesms([...command.split(' '), '--help'], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      // The demo's own help is bin/demo's: here only that it answers through the dispatcher.
      expect(result.stdout).toContain(command === 'demo' ? 'demo' : `massivesms ${command.split(' ')[0]}`);
      expect(result.stdout).toMatch(/^usage: massivesms/);
      for (const variable of variables) expect(result.stdout, variable).toContain(`\n  ${variable}  (`);
      if (variables.length === 0 && command !== 'demo') expect(result.stdout).toContain('Environment: none');
      expect(result.stdout).not.toMatch(/^\{/m); // no log line: nothing started
    },
  );

  it('shows defaults and required variables from the configuration definitions', async () => {
    const result = await massivesms(['router', '--help'], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  KAFKA_BROKERS  (default 127.0.0.1:19092)');
    expect(result.stdout).toContain('  CELL  (required)');
    expect(result.stdout).toContain('  KMS_MASTER_KEY  (required, secret)');
    expect(result.stdout).toContain('  ROUTER_MAX_SEGMENTS  (default 10)');
  });

  it('massivesms --help, -h, help and help <command> print to stdout and exit 0', async () => {
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      const result = await massivesms(args, {});
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('usage: massivesms <command>');
      expect(result.stdout).not.toContain('issue');
    }
    const router = await massivesms(['help', 'router'], {});
    expect(router.code).toBe(0);
    expect(router.stdout).toBe((await massivesms(['router', '--help'], {})).stdout);
    const unknown = await massivesms(['help', 'frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('usage: massivesms <command>');
  });

  it('touched nothing: the database is empty and the port free', async () => {
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
      );
      expect(rows).toEqual([]);
    } finally {
      await client.end();
    }
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('massivesms refuses unknown options and bad values with the usage (exit 2), never a stack', () => {
  const cases: readonly (readonly [string, string[], string])[] = [
    ['unknown option', ['--bogus'], 'usage: massivesms <command>'],
    ['unknown option', ['control', '--bogus'], 'usage: massivesms control'],
    ['unknown option', ['router', '--bogus'], 'usage: massivesms router'],
    ['unknown option', ['dispatcher', '--port', '1'], 'usage: massivesms dispatcher'],
    ['unknown option', ['webhooks', '--bogus'], 'usage: massivesms webhooks'],
    ['argument', ['audit', 'extra'], 'usage: massivesms audit'],
    ['unknown option', ['migrate', '--bogus'], 'usage: massivesms migrate'],
    ['unknown option', ['audit', 'verify', '--bogus'], 'usage: massivesms audit'],
    ['bad value', ['audit', 'verify', '--from', 'yesterday'], 'usage: massivesms audit'],
    ['bad value', ['audit', 'verify', '--cell', 'mars'], 'usage: massivesms audit'],
    ['missing value', ['audit', 'verify-export'], 'usage: massivesms audit'],
    ['unknown option', ['breach-scope', '--bogus'], 'usage: massivesms breach-scope'],
    [
      'bad value',
      ['breach-scope', '--subprocessor', 'telnyx', '--from', 'yesterday', '--to', 'now'],
      'usage: massivesms breach-scope',
    ],
    ['unknown option', ['deadletter', 'list', '--bogus'], 'usage: massivesms deadletter'],
    ['bad value', ['deadletter', 'list', '--cell', 'us', '--limit', 'many'], 'usage: massivesms deadletter'],
    ['missing value', ['deadletter', 'list', '--cell'], 'usage: massivesms deadletter'],
    ['unknown verb', ['deadletter', 'purge'], 'usage: massivesms deadletter'],
    ['unknown option', ['simulate', 'telnyx', '--bogus'], 'usage: massivesms simulate'],
    ['bad value', ['simulate', 'telnyx', '--port', 'http'], 'usage: massivesms simulate'],
    ['unknown option', ['demo', '--bogus'], 'usage: massivesms'],
  ];

  it.each(cases)('%s: massivesms %s', async (_kind, args, usage) => {
    const result = await massivesms(args, {});
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(usage);
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });
});

describe('massivesms entry points', () => {
  it('a service refuses to start on a bad environment and names every bad variable', async () => {
    const result = await massivesms(['router'], { CELL: 'apac', HTTP_PORT: '99999' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('CELL');
    expect(result.stderr).toContain('HTTP_PORT');
    expect(result.stderr).toContain('KMS_MASTER_KEY');
    expect(result.stderr).toContain('massivesms router --help lists every variable');
    expect(result.stderr).not.toMatch(STACK_FRAME);
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

    it('migrate connects and applies the registered migrations, each key once per log line', async () => {
      const result = await massivesms(['migrate'], { DATABASE_URL: schema.url, LOG_LEVEL: 'info' });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/"msg":"(no service has migrations yet|migrations applied)"/);
      const lines = result.stdout.trim().split('\n');
      for (const line of lines) {
        const keys = [...line.matchAll(/"([^"]+)":/g)].map((m) => m[1]);
        expect(keys, line).toEqual([...new Set(keys)]);
        expect(JSON.parse(line)).toMatchObject({ service: 'migrate' });
      }
      expect(lines.map((line) => JSON.parse(line).owner)).toEqual([
        'control',
        'router',
        'dispatcher',
        'webhooks',
        'audit',
      ]);
    });
  });

  describe('an unreachable server is named with its variable and address, without a stack', () => {
    let closed: number;
    beforeAll(async () => {
      closed = await freePort(); // free, and nothing listens there
    });
    const serviceEnv = () => ({
      DATABASE_URL: `postgres://massivesms:s3cr3t-pw@127.0.0.1:${closed}/massivesms`,
      CELL: 'us',
      HTTP_PORT: '0',
      KMS_MASTER_KEY: Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 1)).toString('base64'),
    });

    it.each([['migrate'], ['router'], ['control'], ['audit', 'verify']])(
      'massivesms %s with PostgreSQL down says where it tried and what to do',
      async (...args) => {
        const result = await massivesms(args, serviceEnv());
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(
          `cannot connect to PostgreSQL at 127.0.0.1:${closed} (DATABASE_URL): ECONNREFUSED`,
        );
        expect(result.stderr).toContain('npm run infra:up');
        expect(result.stderr).not.toContain('s3cr3t-pw');
        expect(result.stderr).not.toContain('massivesms:');
        expect(result.stderr).not.toMatch(STACK_FRAME);
        expect(result.stderr).not.toContain('pg-pool');
      },
    );

    it('massivesms deadletter with Kafka down names KAFKA_BROKERS and the address', async () => {
      const result = await massivesms(['deadletter', 'list', '--cell', 'us'], {
        KAFKA_BROKERS: `127.0.0.1:${closed}`,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Kafka at 127.0.0.1:${closed} (KAFKA_BROKERS)`);
      expect(result.stderr).toContain('npm run infra:up');
      expect(result.stderr).not.toMatch(STACK_FRAME);
    }, 30_000);
  });
});

describe('bin/massivesms.ts run directly', () => {
  it('runs on the repository Node 24 through its shebang, whatever node is on PATH', async () => {
    // PATH without node_modules/.bin: the system node (if any) is older, and must not be picked.
    const { stdout } = await run(cli, ['--help'], {
      cwd: '/',
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    });
    expect(stdout).toContain('usage: massivesms <command>');
    const version = await run(fileURLToPath(new URL('../node24', import.meta.url)), ['--version'], {
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(version.stdout.trim()).toBe(process.version);
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
