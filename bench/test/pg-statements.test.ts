import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import type { StatementCounts } from '../pg-statements.ts';

const counter = fileURLToPath(new URL('../pg-statements.ts', import.meta.url));

describe('the SQL statement counter preloaded into service processes', () => {
  it('counts each statement a pg client sends, by first keyword, and the prepared ones, when asked over IPC', async () => {
    const script = `
      import pg from 'pg';
      const client = new pg.Client({ connectionString: process.env.URL });
      await client.connect();
      await client.query('BEGIN');
      await client.query('SELECT 1');
      await client.query({ name: 'two', text: 'SELECT $1::int AS n', values: [2] });
      await client.query({ name: 'two', text: 'SELECT $1::int AS n', values: [3] });
      await client.query('  with x as (select 1) select * from x');
      await client.query('COMMIT');
      await client.end();
      process.send('done');
      setInterval(() => {}, 1000); // a service keeps running; the counter's channel does not keep it alive
    `;
    const child = spawn(process.execPath, ['--import', counter, '--input-type=module', '-e', script], {
      env: { ...process.env, URL: inject('databaseUrl') },
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      await once(child, 'message');
      child.send('pg-statements');
      const [answer] = (await once(child, 'message')) as [{ pgStatements: StatementCounts }];
      expect(answer.pgStatements).toEqual({
        statements: 6,
        named: 2,
        byKind: { BEGIN: 1, SELECT: 3, WITH: 1, COMMIT: 1 },
      });
    } finally {
      child.kill();
    }
  });
});
