import { inspect } from 'node:util';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  ConfigSpecError,
  commonSpec,
  defineConfig,
  parseConfig,
  toCamelCase,
} from '../src/index.ts';
import { randomKey, validEnv } from './helpers.ts';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('returns a typed object with defaults applied for a minimal valid environment', () => {
    const key = randomKey();
    const config = parseConfig(commonSpec, { CELL: 'us', KMS_MASTER_KEY: key });

    expect(config).toEqual({
      cell: 'us',
      kafkaBrokers: ['127.0.0.1:19092'],
      kafkaSaslMechanism: 'scram-sha-512',
      kafkaSessionTimeoutMs: 30_000,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/massivesms',
      databaseStatementTimeoutMs: 30_000,
      databaseQueryTimeoutMs: 35_000,
      databaseConnectTimeoutMs: 10_000,
      httpPort: 8080,
      logLevel: 'info',
      kmsMasterKey: key,
      shutdownTimeoutMs: 10_000,
      controlOperatorToken: undefined,
    });
    expectTypeOf(config.cell).toEqualTypeOf<'us' | 'eu'>();
    expectTypeOf(config.httpPort).toEqualTypeOf<number>();
    expectTypeOf(config.kafkaBrokers).toEqualTypeOf<readonly string[]>();
    expectTypeOf(config.controlOperatorToken).toEqualTypeOf<string | undefined>();
  });

  it('uses given values over defaults and transforms them', () => {
    const config = parseConfig(
      commonSpec,
      validEnv({
        KAFKA_BROKERS: ' kafka-1:9092, [::1]:9093 ',
        KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT',
        HTTP_PORT: '0',
        LOG_LEVEL: 'debug',
      }),
    );

    expect(config.kafkaBrokers).toEqual(['kafka-1:9092', '[::1]:9093']);
    expect(config.httpPort).toBe(0);
    expect(config.logLevel).toBe('debug');
  });

  it('returns a deeply frozen object', () => {
    const config = parseConfig(commonSpec, validEnv());

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.kafkaBrokers)).toBe(true);
    expect(() => {
      (config as { httpPort: number }).httpPort = 1;
    }).toThrow(TypeError);
    expect(() => (config.kafkaBrokers as string[]).push('x:1')).toThrow(TypeError);
  });

  it('treats an empty value as unset, so the default applies or the variable is reported missing', () => {
    const error = configError(() => parseConfig(commonSpec, validEnv({ HTTP_PORT: '', CELL: '  ' })));

    expect(error.problems).toEqual([{ variable: 'CELL', reason: 'required' }]);
  });

  it('names every bad or missing variable, not just the first', () => {
    const error = configError(() =>
      parseConfig(commonSpec, {
        KAFKA_BROKERS: 'kafka-1:9092,kafka-2',
        DATABASE_URL: 'mysql://db/massivesms',
        HTTP_PORT: '70000',
        LOG_LEVEL: 'verbose',
        SHUTDOWN_TIMEOUT_MS: '500',
        CONTROL_OPERATOR_TOKEN: 'short',
      }),
    );

    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.problems.map((p) => p.variable)).toEqual([
      'CELL',
      'KAFKA_BROKERS',
      'DATABASE_URL',
      'HTTP_PORT',
      'LOG_LEVEL',
      'KMS_MASTER_KEY',
      'SHUTDOWN_TIMEOUT_MS',
      'CONTROL_OPERATOR_TOKEN',
    ]);
    expect(error.problems).toContainEqual({ variable: 'CELL', reason: 'required' });
    expect(error.problems).toContainEqual({ variable: 'KMS_MASTER_KEY', reason: 'required' });
    expect(error.problems).toContainEqual({
      variable: 'KAFKA_BROKERS',
      reason: 'entry 2 of 2 is not host:port (e.g. kafka-1:9092)',
    });
    expect(error.problems).toContainEqual({
      variable: 'SHUTDOWN_TIMEOUT_MS',
      reason: 'must be from 1000 to 300000',
    });
    for (const problem of error.problems) {
      expect(error.message).toContain(`${problem.variable}: ${problem.reason}`);
    }
  });

  it('checks a variable against the others once each parsed, and names the variable that fails', () => {
    const spec = defineConfig({
      LOW_MS: { schema: z.string().transform(Number), default: '10', description: 'Low.' },
      HIGH_MS: {
        schema: z.string().transform(Number),
        default: '20',
        description: 'High.',
        check: (config) =>
          (config.highMs as number) > (config.lowMs as number) ? undefined : 'must exceed LOW_MS',
      },
    });

    expect(parseConfig(spec, {})).toEqual({ lowMs: 10, highMs: 20 });
    expect(configError(() => parseConfig(spec, { HIGH_MS: '10' })).problems).toEqual([
      { variable: 'HIGH_MS', reason: 'must exceed LOW_MS' },
    ]);
  });

  it('never echoes a secret value, even when a custom schema puts its input in the message', () => {
    const spec = defineConfig({
      API_SECRET: {
        schema: z
          .string()
          .refine((v) => v.startsWith('sk_'), { error: (issue) => `bad key ${String(issue.input)}` }),
        secret: true,
        description: 'A secret whose schema leaks its input.',
      },
    });
    const leaked = 'hunter2-very-secret-value';
    const badToken = 'token with spaces but 32+ characters long!!';
    const badKey = Buffer.from('not-random-enough-not-random-eno').toString('base64');

    const custom = configError(() => parseConfig(spec, { API_SECRET: leaked }));
    const common = configError(() =>
      parseConfig(commonSpec, { CELL: 'us', KMS_MASTER_KEY: badKey, CONTROL_OPERATOR_TOKEN: badToken }),
    );

    expect(custom.message).not.toContain(leaked);
    expect(JSON.stringify(custom.problems)).not.toContain(leaked);
    expect(custom.problems).toEqual([{ variable: 'API_SECRET', reason: 'bad key [secret]' }]);
    expect(common.message).not.toContain(badKey);
    expect(common.message).not.toContain(badToken);
    expect(common.problems.map((p) => p.variable)).toEqual(['KMS_MASTER_KEY', 'CONTROL_OPERATOR_TOKEN']);
  });

  it('masks secrets and URL passwords when the config is serialised or inspected, but not when read', () => {
    const token = 'op_'.padEnd(40, 'x');
    const env = validEnv({
      CONTROL_OPERATOR_TOKEN: token,
      DATABASE_URL: 'postgres://svc:pa55word@db.internal:5432/massivesms',
    });
    const config = parseConfig(commonSpec, env);

    const json = JSON.stringify(config);
    const inspected = inspect(config);

    expect(config.kmsMasterKey).toBe(env.KMS_MASTER_KEY);
    expect(config.controlOperatorToken).toBe(token);
    expect(config.databaseUrl).toContain('pa55word');
    for (const text of [json, inspected]) {
      expect(text).not.toContain(env.KMS_MASTER_KEY);
      expect(text).not.toContain(token);
      expect(text).not.toContain('pa55word');
      expect(text).toContain('postgres://svc:[secret]@db.internal:5432/massivesms');
    }
    expect(JSON.parse(json)).toMatchObject({ kmsMasterKey: '[secret]', controlOperatorToken: '[secret]' });
    expect(Object.keys(config)).not.toContain('toJSON');
  });

  it('reads process.env when no environment is given', () => {
    const spec = defineConfig({ PATH: { schema: z.string(), description: 'Search path.' } });

    expect(parseConfig(spec).path).toBe(process.env.PATH);
  });
});

describe('defineConfig', () => {
  it('derives camelCase keys and honours an explicit key', () => {
    const spec = defineConfig({
      S3_BUCKET_NAME: { schema: z.string(), default: 'b', description: 'Bucket.' },
      OTEL_EXPORTER_OTLP_ENDPOINT: {
        schema: z.string(),
        default: 'x',
        description: 'OTLP.',
        key: 'otlpEndpoint',
      },
    });

    const config = parseConfig(spec, {});

    expect(config).toEqual({ s3BucketName: 'b', otlpEndpoint: 'x' });
    expectTypeOf(config).toEqualTypeOf<{ readonly s3BucketName: string; readonly otlpEndpoint: string }>();
    expect(toCamelCase('KAFKA_BROKERS')).toBe('kafkaBrokers');
    expect(toCamelCase('A__B_')).toBe('aB');
  });

  it.each([
    ['a lower-case name', { kafka_brokers: { schema: z.string(), description: 'x' } }, 'UPPER_SNAKE_CASE'],
    ['a missing description', { A: { schema: z.string(), description: ' ' } }, 'description'],
    [
      'a secret with a default',
      { A: { schema: z.string(), description: 'x', secret: true, default: 'dev' } },
      'secret',
    ],
    [
      'a default its schema rejects',
      { A: { schema: z.enum(['x']), description: 'x', default: 'y' } },
      'default',
    ],
    [
      'two variables with one key',
      {
        A_B: { schema: z.string(), description: 'x' },
        C: { schema: z.string(), description: 'x', key: 'aB' },
      },
      'property "aB"',
    ],
  ])('rejects a spec with %s', (_case, spec, fragment) => {
    expect(() => defineConfig(spec)).toThrow(ConfigSpecError);
    expect(() => defineConfig(spec)).toThrow(fragment);
  });
});
