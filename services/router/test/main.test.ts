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

async function waitFor(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('massivesms router (the real process)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let child: ChildProcess;
  let output = '';
  /** Kept across restarts; asked of the OS so it is free. */
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    topics = createTestTopics();
    await topics.provisionCell('us', 1);
    schema = await createTestSchema('router-main');
    child = spawn(process.execPath, [cli, 'router'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: String(port),
        KMS_MASTER_KEY: generateMasterKey(),
        TOPIC_NAMESPACE: topics.namespace,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => {
      output += d.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  });
  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await schema.drop();
    await topics.cleanup();
  });

  it('becomes ready, serves metrics, and drains and exits 0 on SIGTERM', async () => {
    await waitFor(`http://127.0.0.1:${port}/readyz`, 30_000);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    expect(metrics).toContain('router_batch_duration_seconds');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('router consuming');
    expect(output).toContain('"msg":"stopped"');
  });
});
