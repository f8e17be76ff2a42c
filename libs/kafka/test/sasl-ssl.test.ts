// The production connection (DPA §5): a private broker with a SASL_SSL listener (TLS from a CA this
// test makes, SCRAM-SHA-512 login), reached through the KAFKA_* variables exactly as a service does.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kafkaConnectionOptions, kafkaSpec, parseConfig } from '@massivesms/config';
import { cellTopics } from '@massivesms/contracts';
import { createTestPki, type PrivateKafka, startPrivateKafka, type TestPki } from '@massivesms/infra';
import { testKafkaLog } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  ensureTopics,
  KafkaBus,
  type KafkaConnection,
  waitForBroker,
} from '../src/index.ts';

const cli = fileURLToPath(new URL('../../../bin/massivesms.ts', import.meta.url));
const USER = 'massivesms';
const PASSWORD = 'scram-test-password-0';

describe('Kafka over SASL_SSL (SCRAM-SHA-512)', () => {
  let dir: string;
  let pki: TestPki;
  let broker: PrivateKafka;
  let secured: KafkaConnection;

  /** The connection the KAFKA_* variables describe, through the same code path as every service. */
  function fromEnv(env: Record<string, string>): KafkaConnection {
    return kafkaConnectionOptions(parseConfig(kafkaSpec, env));
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'massivesms-kafka-tls-'));
    pki = await createTestPki(join(dir, 'pki'), ['localhost', '127.0.0.1']);
    broker = await startPrivateKafka({
      saslSsl: {
        keystoreFile: pki.keystoreFile,
        keystorePassword: pki.keystorePassword,
        scramUsers: [{ name: USER, password: PASSWORD }],
      },
    });
    writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);
    writeFileSync(join(dir, 'wrong-password'), 'not-the-password\n');
    secured = fromEnv({
      KAFKA_BROKERS: broker.saslSslBrokers.join(','),
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SSL_CA_FILE: pki.caFile,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: USER,
      KAFKA_SASL_PASSWORD_FILE: join(dir, 'password'),
    });
  }, 180_000);

  afterAll(async () => {
    await broker?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('produces and consumes through the messaging adapter over TLS with a SCRAM login', async () => {
    expect(secured.ssl?.ca).toHaveLength(1);
    expect(secured.sasl).toEqual({ mechanism: 'scram-sha-512', username: USER, password: PASSWORD });
    await waitForBroker(secured, 30_000);
    const spec = { partitions: 2, cleanupPolicy: 'delete', retentionMs: 3_600_000 } as const;
    const topic = 'tls.test.v1';
    const dlq = 'tls.test.dlq.v1';
    await ensureTopics(secured, [
      { ...spec, name: topic, fullName: topic, personalData: false, description: 'test' },
      { ...spec, name: dlq, fullName: dlq, personalData: false, description: 'test' },
    ]);
    const bus = new KafkaBus({
      ...secured,
      clientId: 'sasl-ssl-test',
      stopTimeoutMs: 2_000,
      log: testKafkaLog,
    });
    const received: string[] = [];
    const all = Promise.withResolvers<void>();
    const consumer = await bus.consume({
      groupId: 'sasl-ssl-test',
      topics: [topic],
      deadLetterTopic: dlq,
      decode: (r) => r.value?.toString() ?? '',
      handleBatch: async (batch) => {
        for (const r of batch.records) received.push(r.message);
        if (received.length >= 3) all.resolve();
      },
    });
    await bus.producer().send(['a', 'b', 'c'].map((v) => ({ topic, key: v, value: v })));
    await all.promise;
    expect(received.sort()).toEqual(['a', 'b', 'c']);
    await consumer.stop();
    await bus.close();
  });

  it('refuses a wrong password (SASL authentication error)', async () => {
    const wrong = fromEnv({
      KAFKA_BROKERS: broker.saslSslBrokers.join(','),
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SSL_CA_FILE: pki.caFile,
      KAFKA_SASL_USERNAME: USER,
      KAFKA_SASL_PASSWORD_FILE: join(dir, 'wrong-password'),
    });
    const started = performance.now();
    const error = await waitForBroker(wrong, 30_000).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(10_000); // refused at once, not retried to the deadline
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as Error).cause).toMatchObject({ name: 'KafkaJSSASLAuthenticationError' });
    // The adapter's producer is refused the same way, and the password is in no message.
    const logged: string[] = [];
    const bus = new KafkaBus({
      ...wrong,
      clientId: 'sasl-ssl-wrong',
      log: (level, message, fields) => {
        logged.push(JSON.stringify({ message, fields }));
        testKafkaLog(level, message, fields);
      },
    });
    const sent = await bus
      .producer()
      .send([{ topic: 'tls.test.v1', key: 'k', value: 'v' }])
      .catch((e: unknown) => e);
    expect(sent).toMatchObject({ name: 'KafkaJSSASLAuthenticationError' });
    expect(logged.join('\n')).toContain('authentication failed');
    for (const text of [String((sent as Error).message), ...logged])
      expect(text).not.toContain('not-the-password');
    await bus.close();
  });

  it('refuses a broker whose certificate does not chain to the configured CA', async () => {
    const untrusted = fromEnv({
      KAFKA_BROKERS: broker.saslSslBrokers.join(','),
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SSL_CA_FILE: pki.otherCaFile,
      KAFKA_SASL_USERNAME: USER,
      KAFKA_SASL_PASSWORD_FILE: join(dir, 'password'),
    });
    const error = await waitForBroker(untrusted, 3_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect(String(((error as Error).cause as Error).message)).toMatch(/certificate/i);
  });

  it('refuses a plaintext client on the TLS listener', async () => {
    // Loopback brokers with the protocol unset: the development default, PLAINTEXT.
    const plaintext = fromEnv({ KAFKA_BROKERS: broker.saslSslBrokers.join(',') });
    expect(plaintext).toEqual({ brokers: broker.saslSslBrokers });
    const error = await waitForBroker(plaintext, 3_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    // The same client does reach the broker's plaintext listener: the refusal is the TLS listener's.
    await expect(waitForBroker(broker.brokers, 10_000)).resolves.toHaveProperty('clusterId');
  });

  it('serves the CLI through the same variables (massivesms deadletter list as a process)', async () => {
    await ensureTopics(secured, cellTopics('us', { namespace: '' }));
    const massivesms = async (passwordFile: string) => {
      try {
        const { stdout, stderr } = await promisify(execFile)(
          process.execPath,
          [cli, 'deadletter', 'list', '--cell', 'us', '--json'],
          {
            timeout: 60_000,
            env: {
              PATH: process.env.PATH ?? '',
              KAFKA_BROKERS: broker.saslSslBrokers.join(','),
              KAFKA_SSL_CA_FILE: pki.caFile,
              KAFKA_SASL_USERNAME: USER,
              KAFKA_SASL_PASSWORD_FILE: passwordFile,
              KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
            },
          },
        );
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const ok = await massivesms(join(dir, 'password'));
    expect(ok).toMatchObject({ code: 0, stdout: '' }); // no dead letters yet, and connected to list them
    const refused = await massivesms(join(dir, 'wrong-password'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('massivesms deadletter: no answer from Kafka at');
    expect(refused.stderr).toContain('KafkaJSSASLAuthenticationError');
    expect(refused.stderr + refused.stdout).not.toContain('not-the-password');
  });
});
