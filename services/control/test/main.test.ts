import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateMasterKey } from '@massivesms/privacy';
import {
  createTestSchema,
  createTestTopics,
  freePort,
  type TestSchema,
  type TestTopics,
} from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const operatorToken = `op_${'k'.repeat(40)}`;

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return res;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('massivesms control (the real process)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let child: ChildProcess;
  let output = '';
  /** Kept across restarts; asked of the OS so it is free. */
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    topics = createTestTopics();
    await topics.provisionCell('eu', 1);
    schema = await createTestSchema('control-main');
    const databaseUrl = `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`;
    child = spawn(process.execPath, [cli, 'control'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'eu',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: databaseUrl,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'info',
        KMS_MASTER_KEY: generateMasterKey(),
        CONTROL_OPERATOR_TOKEN: operatorToken,
        TOPIC_NAMESPACE: topics.namespace,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
  });
  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await schema.drop();
    await topics.cleanup();
  });

  it('migrates, becomes ready, serves the API with the configured operator token, and stops on SIGTERM', async () => {
    await waitFor(`http://127.0.0.1:${port}/readyz`, 30_000);
    const created = await fetch(`http://127.0.0.1:${port}/v1/controllers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'eu-shop', name: 'EU Shop', region: 'eu' }),
    });
    expect(created.status).toBe(201);
    expect(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status)).toBe(200);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('control API listening');
    expect(output).toContain('"msg":"stopped"');
    expect(output).not.toContain(operatorToken);
  });
});
