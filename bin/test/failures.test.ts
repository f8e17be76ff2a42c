// What a command prints when PostgreSQL or Kafka is out of reach: the variable, the address tried
// (never the URL's credentials), the cause and what to do; anything else is left to its stack.
import { describe, expect, it } from 'vitest';
import { databaseAddress, describeStartFailure } from '../failures.ts';

const DATABASE_URL = 'postgres://app:hunter2@db.internal:6543/massivesms';
const refused = (port: number) =>
  Object.assign(new Error(`connect ECONNREFUSED 10.0.0.5:${port}`), {
    code: 'ECONNREFUSED',
    syscall: 'connect',
    address: '10.0.0.5',
    port,
  });

describe('describeStartFailure', () => {
  it('names DATABASE_URL and its host:port for a refused connection to the database, without credentials', () => {
    const text = describeStartFailure(refused(6543), { DATABASE_URL });
    expect(text).toBe(
      'cannot connect to PostgreSQL at db.internal:6543 (DATABASE_URL): ECONNREFUSED — is PostgreSQL running there? ' +
        'Start PostgreSQL (npm run infra:up does, for local development) or set DATABASE_URL to a reachable server, then run the command again.',
    );
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('app');
  });

  it('finds the cause inside an AggregateError (localhost tried over IPv6 and IPv4)', () => {
    const error = new AggregateError([refused(5432), refused(5432)], 'connect failed');
    expect(describeStartFailure(error, {})).toContain(
      'cannot connect to PostgreSQL at 127.0.0.1:5432 (DATABASE_URL): ECONNREFUSED',
    );
  });

  it('explains a server refusal by its SQLSTATE, not by the server text (which names the user)', () => {
    const error = Object.assign(new Error('password authentication failed for user "app"'), {
      severity: 'FATAL',
      code: '28P01',
    });
    const text = describeStartFailure(error, { DATABASE_URL });
    expect(text).toContain('PostgreSQL at db.internal:6543 (DATABASE_URL): 28P01');
    expect(text).toContain('check the user and password in DATABASE_URL');
    expect(text).not.toContain('"app"');
  });

  it('names the connect timeout of the pool', () => {
    const error = Object.assign(new Error('no PostgreSQL connection within 10000 ms'), {
      code: 'DB_CONNECT_TIMEOUT',
    });
    expect(describeStartFailure(error, { DATABASE_URL })).toContain(
      'PostgreSQL at db.internal:6543 (DATABASE_URL): no PostgreSQL connection within 10000 ms',
    );
  });

  it('names KAFKA_BROKERS and the brokers for a KafkaJS connection failure', () => {
    const cause = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:5998'), {
      name: 'KafkaJSConnectionError',
    });
    const error = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:5998'), {
      name: 'KafkaJSNumberOfRetriesExceeded',
      cause,
    });
    const text = describeStartFailure(error, { KAFKA_BROKERS: '127.0.0.1:5998', DATABASE_URL });
    expect(text).toContain('cannot connect to Kafka at 127.0.0.1:5998 (KAFKA_BROKERS): ECONNREFUSED');
    expect(text).toContain('set KAFKA_BROKERS');
  });

  it('leaves anything else alone: a bug keeps its stack', () => {
    expect(describeStartFailure(new TypeError('x is undefined'), { DATABASE_URL })).toBeUndefined();
    expect(describeStartFailure(refused(9092), { DATABASE_URL })).toBeUndefined();
    const sql = Object.assign(new Error('relation "x" does not exist'), { severity: 'ERROR', code: '42P01' });
    expect(describeStartFailure(sql, { DATABASE_URL })).toBeUndefined();
  });
});

describe('databaseAddress', () => {
  it.each([
    ['postgres://u:p@db:5432/x', 'db:5432'],
    ['postgresql://db/x', 'db:5432'],
    ['postgres://[::1]:6000/x', '[::1]:6000'],
    ['postgres:///x?host=/var/run/postgresql', 'the local socket'],
  ])('%s → %s', (url, address) => {
    expect(databaseAddress(url)).toBe(address);
  });
});
