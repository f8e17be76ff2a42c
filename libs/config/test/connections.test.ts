import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  commonSpec,
  databasePoolOptions,
  isLoopbackHost,
  kafkaConnectionOptions,
  parseConfig,
} from '../src/index.ts';
import { validEnv } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'massivesms-config-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Only the file's shape is checked at start-up (a PEM certificate block), not the certificate.
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, PEM);
const passwordFile = join(dir, 'password');
const PASSWORD = 'sc ram-pässword';
writeFileSync(passwordFile, `${PASSWORD}\n`);
const emptyFile = join(dir, 'empty');
writeFileSync(emptyFile, '\n');
const notPem = join(dir, 'not-pem');
writeFileSync(notPem, 'hello');

function problems(env: Record<string, string>): Record<string, string> {
  try {
    parseConfig(commonSpec, validEnv(env));
    return {};
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return Object.fromEntries(error.problems.map((p) => [p.variable, p.reason]));
  }
}

const remote = { KAFKA_BROKERS: 'b-1.kafka.internal:9096,b-2.kafka.internal:9096' };
const sasl = { KAFKA_SASL_USERNAME: 'massivesms', KAFKA_SASL_PASSWORD_FILE: passwordFile };

describe('Kafka connection security', () => {
  it('tells loopback hosts from others', () => {
    for (const host of ['127.0.0.1', '127.8.9.1', 'localhost', 'LOCALHOST', '[::1]', '::1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['10.0.0.1', 'kafka', 'localhost.example.com', '[2001:db8::1]', '0.0.0.0']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('stays plaintext for loopback brokers when nothing is set (local development)', () => {
    const config = parseConfig(commonSpec, validEnv({ KAFKA_BROKERS: '127.0.0.1:19092,localhost:19093' }));
    expect(kafkaConnectionOptions(config)).toEqual({ brokers: ['127.0.0.1:19092', 'localhost:19093'] });
  });

  it('requires SASL credentials for remote brokers when the protocol is unset', () => {
    expect(problems(remote)).toEqual({
      KAFKA_SASL_USERNAME: expect.stringContaining(
        'required: the security protocol is SASL_SSL (the default',
      ),
      KAFKA_SASL_PASSWORD_FILE: expect.stringContaining('required'),
    });
  });

  it('builds a SASL_SSL connection with the CA and the password read from their files', () => {
    const config = parseConfig(commonSpec, validEnv({ ...remote, ...sasl, KAFKA_SSL_CA_FILE: caFile }));
    expect(kafkaConnectionOptions(config)).toEqual({
      brokers: ['b-1.kafka.internal:9096', 'b-2.kafka.internal:9096'],
      ssl: { ca: [PEM] },
      sasl: { mechanism: 'scram-sha-512', username: 'massivesms', password: PASSWORD },
    });
    // The parsed configuration holds the path only, so logging it cannot leak the password.
    expect(JSON.stringify(config)).not.toContain(PASSWORD);
    expect(inspect(config)).not.toContain(PASSWORD);
    expect(JSON.parse(JSON.stringify(config))).toMatchObject({ kafkaSaslPasswordFile: passwordFile });
  });

  it('uses the public CAs when no CA file is given, and SCRAM-SHA-256 when asked', () => {
    const config = parseConfig(
      commonSpec,
      validEnv({
        ...remote,
        ...sasl,
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
      }),
    );
    const options = kafkaConnectionOptions(config);
    expect(options.ssl).toEqual({});
    expect(options.sasl?.mechanism).toBe('scram-sha-256');
  });

  it('secures loopback brokers too when the protocol is set', () => {
    const config = parseConfig(
      commonSpec,
      validEnv({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_BROKERS: '127.0.0.1:9094', ...sasl }),
    );
    expect(kafkaConnectionOptions(config).sasl?.username).toBe('massivesms');
  });

  it('offers TLS without login (SSL) and plaintext to remote brokers only when asked', () => {
    const tls = parseConfig(commonSpec, validEnv({ ...remote, KAFKA_SECURITY_PROTOCOL: 'SSL' }));
    expect(kafkaConnectionOptions(tls)).toEqual({ brokers: [...tls.kafkaBrokers], ssl: {} });
    const plain = parseConfig(commonSpec, validEnv({ ...remote, KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT' }));
    expect(kafkaConnectionOptions(plain)).toEqual({ brokers: [...plain.kafkaBrokers] });
  });

  it('refuses credentials or a CA the chosen protocol would ignore', () => {
    expect(problems({ ...remote, ...sasl, KAFKA_SECURITY_PROTOCOL: 'SSL' })).toEqual({
      KAFKA_SASL_USERNAME: expect.stringContaining('set, but the security protocol is SSL'),
      KAFKA_SASL_PASSWORD_FILE: expect.stringContaining('set, but the security protocol is SSL'),
    });
    expect(problems({ KAFKA_SSL_CA_FILE: caFile })).toEqual({
      KAFKA_SSL_CA_FILE: 'set, but the security protocol is PLAINTEXT (no TLS)',
    });
  });

  it('refuses an empty password file and a CA file that holds no certificate', () => {
    expect(problems({ ...remote, ...sasl, KAFKA_SASL_PASSWORD_FILE: emptyFile })).toEqual({
      KAFKA_SASL_PASSWORD_FILE: 'the file is empty',
    });
    expect(problems({ ...remote, ...sasl, KAFKA_SSL_CA_FILE: notPem })).toEqual({
      KAFKA_SSL_CA_FILE: expect.stringContaining('is not a PEM file of CA certificates'),
    });
  });
});

describe('PostgreSQL connection security', () => {
  const pool = (env: Record<string, string>) => databasePoolOptions(parseConfig(commonSpec, validEnv(env)));

  it('is off for a loopback host or a Unix socket when unset, verify-full for any other', () => {
    expect(pool({}).ssl).toBe(false);
    expect(pool({ DATABASE_URL: 'postgres://svc@localhost/m' }).ssl).toBe(false);
    expect(pool({ DATABASE_URL: 'postgres://svc@[::1]:5433/m' }).ssl).toBe(false);
    expect(pool({ DATABASE_URL: 'postgres:///m?host=/var/run/postgresql' }).ssl).toBe(false);
    expect(pool({ DATABASE_URL: 'postgres://svc@db.internal/m' }).ssl).toEqual({});
  });

  it('reads the CA file for verify-full, and obeys an explicit mode', () => {
    expect(pool({ DATABASE_URL: 'postgres://svc@db.internal/m', DATABASE_SSL_CA_FILE: caFile }).ssl).toEqual({
      ca: PEM,
    });
    expect(pool({ DATABASE_SSL_MODE: 'verify-full', DATABASE_SSL_CA_FILE: caFile }).ssl).toEqual({ ca: PEM });
    expect(pool({ DATABASE_URL: 'postgres://svc@db.internal/m', DATABASE_SSL_MODE: 'disable' }).ssl).toBe(
      false,
    );
  });

  it('refuses a CA file when TLS is off', () => {
    expect(problems({ DATABASE_SSL_CA_FILE: caFile })).toEqual({
      DATABASE_SSL_CA_FILE: 'set, but DATABASE_SSL_MODE is disable (no TLS)',
    });
  });
});
