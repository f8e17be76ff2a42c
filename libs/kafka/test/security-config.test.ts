import { describe, expect, it } from 'vitest';
import { securityConfig } from '../src/client.ts';

describe('Kafka security settings', () => {
  it('sends nothing extra for a plaintext connection', () => {
    expect(securityConfig({ brokers: ['127.0.0.1:19092'] })).toEqual({});
  });

  it('always verifies the broker, with the given CAs or the public ones', () => {
    expect(securityConfig({ brokers: ['k:9093'], ssl: {} })).toEqual({ ssl: { rejectUnauthorized: true } });
    expect(securityConfig({ brokers: ['k:9093'], ssl: { ca: ['PEM'] } })).toEqual({
      ssl: { rejectUnauthorized: true, ca: ['PEM'] },
    });
  });

  it('passes SCRAM credentials with TLS, and refuses them without (SASL_PLAINTEXT)', () => {
    const sasl = { mechanism: 'scram-sha-512', username: 'u', password: 'p' } as const;
    expect(securityConfig({ brokers: ['k:9096'], ssl: {}, sasl })).toEqual({
      ssl: { rejectUnauthorized: true },
      sasl,
    });
    expect(() => securityConfig({ brokers: ['k:9096'], sasl })).toThrow('Kafka SASL needs TLS');
  });
});
