import { describe, expect, it } from 'vitest';
import { ConfigError, commonSpec, databasePoolOptions, parseConfig } from '../src/index.ts';
import { validEnv } from './helpers.ts';

function problemFor(variable: string, value: string): string | undefined {
  try {
    parseConfig(commonSpec, validEnv({ [variable]: value }));
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw error;
    }
    return error.problems.find((p) => p.variable === variable)?.reason;
  }
}

describe('commonSpec', () => {
  it.each([
    ['CELL', 'us'],
    ['CELL', 'eu'],
    ['KAFKA_BROKERS', 'localhost:9092'],
    ['KAFKA_BROKERS', 'b-1.kafka.eu-west-1.amazonaws.com:9098,10.0.0.7:9092'],
    ['KAFKA_BROKERS', '[2001:db8::1]:9092'],
    ['DATABASE_URL', 'postgresql://svc:secret@db:5432/massivesms?application_name=x'],
    ['DATABASE_URL', 'postgres:///massivesms?host=/var/run/postgresql'],
    ['HTTP_PORT', '0'],
    ['HTTP_PORT', '65535'],
    ['LOG_LEVEL', 'silent'],
    ['CONTROL_OPERATOR_TOKEN', 'a'.repeat(16) + 'B'.repeat(16)],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '0'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '5000'],
    ['DATABASE_QUERY_TIMEOUT_MS', '0'],
    ['DATABASE_QUERY_TIMEOUT_MS', '86400000'],
    ['DATABASE_CONNECT_TIMEOUT_MS', '2500'],
  ])('accepts %s=%s', (variable, value) => {
    expect(problemFor(variable, value)).toBeUndefined();
  });

  it.each([
    ['CELL', 'US', 'must be one of: us, eu'],
    ['CELL', 'apac', 'must be one of: us, eu'],
    ['KAFKA_BROKERS', 'kafka-1', 'entry 1 of 1 is not host:port'],
    ['KAFKA_BROKERS', 'kafka-1:9092,,kafka-2:9092', 'entry 2 of 3 is not host:port'],
    ['KAFKA_BROKERS', 'kafka-1:0', 'entry 1 of 1 is not host:port'],
    ['KAFKA_BROKERS', 'kafka_1:9092', 'entry 1 of 1 is not host:port'],
    ['KAFKA_BROKERS', 'PLAINTEXT://kafka-1:9092', 'entry 1 of 1 is not host:port'],
    ['DATABASE_URL', 'mysql://db/massivesms', 'must be a postgres:// or postgresql:// URL'],
    ['DATABASE_URL', 'db.internal:5432', 'must be a postgres:// or postgresql:// URL'],
    ['DATABASE_URL', 'postgres://db/m?sslmode=require', 'not the URL parameter sslmode'],
    ['DATABASE_URL', 'postgres://db/m?ssl=true&sslrootcert=/ca.pem', 'parameters ssl, sslrootcert'],
    ['KAFKA_SECURITY_PROTOCOL', 'SASL_PLAINTEXT', 'must be one of: PLAINTEXT, SSL, SASL_SSL'],
    ['KAFKA_SASL_MECHANISM', 'plain', 'PLAIN is refused'],
    ['KAFKA_SSL_CA_FILE', '/nonexistent/ca.pem', 'cannot read the file (ENOENT)'],
    ['KAFKA_SASL_PASSWORD_FILE', '/nonexistent/password', 'cannot read the file (ENOENT)'],
    ['DATABASE_SSL_MODE', 'require', 'must be one of: disable, verify-full'],
    ['DATABASE_SSL_CA_FILE', '/nonexistent/ca.pem', 'cannot read the file (ENOENT)'],
    ['HTTP_PORT', '65536', 'must be an integer from 0 to 65535'],
    ['HTTP_PORT', '-1', 'must be an integer from 0 to 65535'],
    ['HTTP_PORT', '80.5', 'must be an integer from 0 to 65535'],
    ['HTTP_PORT', '0x50', 'must be an integer from 0 to 65535'],
    ['HTTP_PORT', '8080 ', 'must be an integer from 0 to 65535'],
    ['LOG_LEVEL', 'verbose', 'must be one of: fatal, error, warn, info, debug, trace, silent'],
    ['KMS_MASTER_KEY', 'c2hvcnQ=', 'must be base64 of exactly 32 bytes'],
    ['KMS_MASTER_KEY', Buffer.alloc(33, 7).toString('base64'), 'must be base64 of exactly 32 bytes'],
    ['KMS_MASTER_KEY', Buffer.alloc(32, 0).toString('base64url').replace(/A/g, '-'), 'must be base64'],
    ['KMS_MASTER_KEY', Buffer.alloc(32, 0).toString('base64'), 'looks like a placeholder'],
    ['KMS_MASTER_KEY', Buffer.from('k'.repeat(32)).toString('base64'), 'looks like a placeholder'],
    ['CONTROL_OPERATOR_TOKEN', 'x'.repeat(31), 'must be at least 32 characters'],
    ['CONTROL_OPERATOR_TOKEN', `${'x'.repeat(40)}\n`, 'must not contain whitespace'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '50', 'must be 0 (off) or a whole number of milliseconds from 100'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '30s', 'must be 0 (off) or a whole number of milliseconds'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '-1', 'must be 0 (off) or a whole number of milliseconds'],
    ['DATABASE_QUERY_TIMEOUT_MS', '86400001', 'to 86400000'],
    ['DATABASE_QUERY_TIMEOUT_MS', '1e4', 'must be 0 (off) or a whole number of milliseconds'],
    ['DATABASE_QUERY_TIMEOUT_MS', '30000', 'must exceed DATABASE_STATEMENT_TIMEOUT_MS (30000)'],
    ['DATABASE_CONNECT_TIMEOUT_MS', '0', 'must be a whole number of milliseconds from 100 to 600000'],
  ])('rejects %s=%j with a reason', (variable, value, reason) => {
    expect(problemFor(variable, value)).toContain(reason);
  });

  it('has no default for KMS_MASTER_KEY, so an unset key stops start-up', () => {
    expect(commonSpec.KMS_MASTER_KEY).not.toHaveProperty('default');
    expect(problemFor('KMS_MASTER_KEY', '')).toBe('required');
  });

  it('lets a query timeout above the statement timeout, or either off, pass the cross-check', () => {
    const ok = (env: Record<string, string>) => () => parseConfig(commonSpec, validEnv(env));
    expect(ok({ DATABASE_STATEMENT_TIMEOUT_MS: '5000', DATABASE_QUERY_TIMEOUT_MS: '6000' })).not.toThrow();
    expect(ok({ DATABASE_STATEMENT_TIMEOUT_MS: '0', DATABASE_QUERY_TIMEOUT_MS: '1000' })).not.toThrow();
    expect(ok({ DATABASE_STATEMENT_TIMEOUT_MS: '60000', DATABASE_QUERY_TIMEOUT_MS: '0' })).not.toThrow();
  });

  it('hands the DATABASE_* settings to the pool as createPgDb options', () => {
    const config = parseConfig(
      commonSpec,
      validEnv({ DATABASE_STATEMENT_TIMEOUT_MS: '5000', DATABASE_QUERY_TIMEOUT_MS: '8000' }),
    );
    expect(databasePoolOptions(config)).toEqual({
      url: 'postgres://postgres@127.0.0.1:5432/massivesms',
      ssl: false,
      statementTimeoutMs: 5_000,
      queryTimeoutMs: 8_000,
      connectionTimeoutMs: 10_000,
    });
  });
});
