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
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const SID = `AC${'3'.repeat(32)}`;

describe('massivesms dispatcher (the real process)', () => {
  let topics: TestTopics;
  let schema: TestSchema;
  let telnyx: TelnyxSimulator;
  let twilio: TwilioSimulator;
  let child: ChildProcess;
  let output = '';
  /** Kept across restarts; asked of the OS so it is free. */
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    topics = createTestTopics();
    await topics.provisionCell('eu', 1);
    schema = await createTestSchema('dispatcher-main');
    telnyx = await startTelnyxSimulator({ apiKey: 'KEY_MAIN' });
    twilio = await startTwilioSimulator({ accountSid: SID, authToken: 'token-main' });
    child = spawn(process.execPath, [cli, 'dispatcher'], {
      env: {
        PATH: process.env.PATH,
        CELL: 'eu',
        KAFKA_BROKERS: topics.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: String(port),
        KMS_MASTER_KEY: generateMasterKey(),
        TOPIC_NAMESPACE: topics.namespace,
        TELNYX_API_KEY: 'KEY_MAIN',
        TELNYX_PUBLIC_KEY: telnyx.publicKey,
        TELNYX_BASE_URL: telnyx.baseUrl,
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: 'token-main',
        TWILIO_BASE_URL: twilio.baseUrl,
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
    await telnyx.close();
    await twilio.close();
  });

  it('becomes ready, serves metrics and the receipt ingress, and drains and exits 0 on SIGTERM', async () => {
    const deadline = Date.now() + 50_000; // a cold start on 2 busy cores (other suites run alongside)
    while (
      !(await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error(`not ready: ${output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    expect(metrics).toContain('dispatcher_receipts_total');
    const unsigned = await fetch(`http://127.0.0.1:${port}/receipts/telnyx/acme/m1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unsigned.status).toBe(403);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('dispatcher consuming');
    expect(output).not.toContain('KEY_MAIN');
  }, 60_000);
});
