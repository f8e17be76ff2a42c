import { describe, expect, it } from 'vitest';
import {
  deadLetterHeaders,
  deadLetterReason,
  deadLetterRecord,
  type IncomingRecord,
  isRetryable,
  RecordFailedError,
  readDeadLetter,
  replayRecord,
} from '../src/index.ts';

const source: IncomingRecord = {
  topic: 'us.sms.status.v1',
  partition: 4,
  offset: '1234',
  key: 'acme:m-1',
  value: Buffer.from('{"sealed":"v1.abc.def"}'),
  headers: { region: 'us', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  timestamp: '1700000000000',
};
const target = { deadLetterTopic: 'us.deadletter.v1', groupId: 'webhooks.us' };

/** The dead letter as the consumer produced it, read back at partition 2, offset 17. */
function asRead(record: ReturnType<typeof deadLetterRecord>): IncomingRecord {
  return {
    topic: record.topic,
    partition: 2,
    offset: '17',
    key: record.key,
    value: record.value === null ? null : Buffer.from(record.value),
    headers: record.headers ?? {},
    timestamp: '1700000060000',
  };
}

describe('dead letters', () => {
  it.each([
    ['a retryable RecordFailedError', RecordFailedError.retryable('X', 'r'), true],
    ['a non-retryable RecordFailedError', RecordFailedError.nonRetryable('X', 'r'), false],
    ['an error that says it is permanent', Object.assign(new Error('x'), { retryable: false }), false],
    ['an error nobody classified (may be transient)', new Error('socket hang up'), true],
    ['a thrown string', 'boom', true],
  ])('%s is retryable: %s', (_name, error, expected) => {
    expect(isRetryable(error)).toBe(expected);
  });

  it.each([
    [
      'keeps the message of a coded error',
      RecordFailedError.nonRetryable('C', 'field "to" of m-1'),
      'field "to" of m-1',
    ],
    [
      'withholds the message of an error without a code (it may quote input)',
      new TypeError('bad number +14155552671'),
      'TypeError (message withheld: the error has no code)',
    ],
    ['withholds a thrown non-error', '+14155552671', 'non-error value thrown (withheld)'],
  ])('the reason %s', (_name, error, reason) => {
    expect(deadLetterReason(error)).toBe(reason);
  });

  it('read back, a dead letter names its origin, and its replay is the original record without dlq- headers', () => {
    const error = RecordFailedError.retryable('PRIVACY_KEYS_UNAVAILABLE', 'keys of acme unavailable');
    const dead = readDeadLetter(asRead(deadLetterRecord(target, source, error, 10)));
    expect(dead).toMatchObject({
      partition: 2,
      offset: '17',
      at: new Date(1_700_000_060_000).toISOString(),
      source: { topic: 'us.sms.status.v1', partition: 4, offset: '1234' },
      groupId: 'webhooks.us',
      code: 'PRIVACY_KEYS_UNAVAILABLE',
      reason: 'keys of acme unavailable',
      field: undefined,
      attempts: 10,
      retryable: true,
      valueKept: true,
    });
    expect(replayRecord(dead!)).toEqual({
      topic: source.topic,
      key: source.key,
      value: source.value,
      headers: source.headers,
    });
  });

  it('a dead letter that omits the value is replayed with the value read from the source', () => {
    const dead = readDeadLetter(
      asRead(
        deadLetterRecord(
          { ...target, deadLetterValue: 'omit' },
          source,
          RecordFailedError.nonRetryable('C', 'r'),
        ),
      ),
    );
    expect(dead?.record.value).toBeNull();
    expect(dead?.record.headers[deadLetterHeaders.value]).toBe('omitted');
    expect(dead?.valueKept).toBe(false);
    const fromSource = Buffer.from('{"to":"+14155552671"}');
    expect(replayRecord(dead!, fromSource).value).toBe(fromSource);
  });

  it('a record without the dlq- origin headers is not a dead letter', () => {
    expect(readDeadLetter(source)).toBeUndefined();
  });
});
