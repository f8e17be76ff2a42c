// The real router, dispatcher and webhooks processes on a broker of this file's own, which is then
// stopped: each must answer /readyz with 503 while it cannot consume, and still stop within its
// shutdown budget on SIGTERM (before, they said 200 throughout and took longer than 8 s to exit).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { cellTopics } from '@massivesms/contracts';
import { ensureTopics } from '@massivesms/kafka';
import { generateMasterKey } from '@massivesms/privacy';
import {
  createTestSchema,
  eventually,
  freePort,
  type PrivateKafka,
  startPrivateKafka,
  type TestSchema,
} from '@massivesms/testkit';
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../massivesms.ts', import.meta.url));
const SID = `AC${'4'.repeat(32)}`;
const SHUTDOWN_TIMEOUT_MS = 4_000;
const services = ['router', 'dispatcher', 'webhooks'] as const;
type Service = (typeof services)[number];

interface Running {
  readonly child: ChildProcess;
  readonly port: number;
  output: string;
}

const readiness = (port: number) =>
  fetch(`http://127.0.0.1:${port}/readyz`).then(
    (r) => r.status,
    () => 0,
  );

describe('router, dispatcher and webhooks when the broker goes away', () => {
  let broker: PrivateKafka;
  const schemas: TestSchema[] = [];
  let telnyx: TelnyxSimulator;
  let twilio: TwilioSimulator;
  const running = new Map<Service, Running>();
  const namespace = `o${Math.floor(Math.random() * 1e9).toString(36)}`;

  const start = async (service: Service): Promise<Running> => {
    const schema = await createTestSchema(`outage-${service}`);
    schemas.push(schema);
    const port = await freePort();
    const child = spawn(process.execPath, [cli, service], {
      env: {
        PATH: process.env.PATH,
        CELL: 'us',
        KAFKA_BROKERS: broker.brokers.join(','),
        DATABASE_URL: `${schema.url}?options=${encodeURIComponent(`-c search_path=${schema.schema}`)}`,
        HTTP_PORT: String(port),
        KMS_MASTER_KEY: generateMasterKey(),
        TOPIC_NAMESPACE: namespace,
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        ...(service === 'dispatcher'
          ? {
              TELNYX_API_KEY: 'KEY_OUTAGE',
              TELNYX_PUBLIC_KEY: telnyx.publicKey,
              TELNYX_BASE_URL: telnyx.baseUrl,
              TWILIO_ACCOUNT_SID: SID,
              TWILIO_AUTH_TOKEN: 'token-outage',
              TWILIO_BASE_URL: twilio.baseUrl,
            }
          : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started: Running = { child, port, output: '' };
    const collect = (d: Buffer) => {
      started.output += d.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    return started;
  };
  const logsOf = (service: Service) =>
    `${service}:\n${(running.get(service)?.output ?? '')
      .split('\n')
      .filter((l) => !l.includes('"namespace":"Connection"') && !l.includes('BrokerPool'))
      .join('\n')
      .slice(-4_000)}`;

  beforeAll(async () => {
    broker = await startPrivateKafka();
    await ensureTopics(broker.brokers, cellTopics('us', { namespace, partitions: 1 }));
    telnyx = await startTelnyxSimulator({ apiKey: 'KEY_OUTAGE' });
    twilio = await startTwilioSimulator({ accountSid: SID, authToken: 'token-outage' });
    await Promise.all(services.map(async (s) => running.set(s, await start(s))));
  }, 180_000);
  afterAll(async () => {
    for (const { child } of running.values()) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(schemas.map((s) => s.drop()));
    await telnyx?.close();
    await twilio?.close();
    await broker?.remove();
  });

  it('answers /readyz with 503 while the broker is down, and exits 0 within its shutdown budget', async () => {
    for (const service of services) {
      const { port } = running.get(service)!;
      // A cold start on 2 busy cores (other suites run alongside).
      await eventually(60_000, async () => expect(await readiness(port), logsOf(service)).toBe(200));
    }

    await broker.stop();
    for (const service of services) {
      const { port } = running.get(service)!;
      await eventually(30_000, async () => expect(await readiness(port), logsOf(service)).toBe(503));
    }

    const stopped = await Promise.all(
      services.map(async (service) => {
        const { child } = running.get(service)!;
        const exited = once(child, 'exit') as Promise<[number | null]>;
        const signalled = performance.now();
        child.kill('SIGTERM');
        const [code] = await exited;
        return { service, code, ms: performance.now() - signalled };
      }),
    );
    for (const { service, code, ms } of stopped) {
      expect(code, logsOf(service)).toBe(0);
      expect(ms, logsOf(service)).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    }
  }, 180_000);
});
