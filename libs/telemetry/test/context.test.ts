import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { getLogContext, type LogContext, withLogContext } from '../src/index.ts';
import { capture } from './helpers.ts';

describe('withLogContext', () => {
  it('adds the context to every line inside, across awaits, and not outside', async () => {
    const { logger, destination } = capture();

    await withLogContext(
      {
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        topic: 'eu.sms.dispatch.v1',
        partition: 2,
        offset: '12345',
      },
      async () => {
        logger.info('before await');
        await sleep(1);
        await withLogContext({ messageId: 'm-1' }, async () =>
          logger.child({ component: 'x' }).info('inner'),
        );
      },
    );
    logger.info('outside');

    const [before, inner, outside] = destination.records();
    const expected = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      topic: 'eu.sms.dispatch.v1',
      partition: 2,
      offset: '12345',
    };
    expect(before).toMatchObject(expected);
    expect(before).not.toHaveProperty('messageId');
    expect(inner).toMatchObject({ ...expected, messageId: 'm-1', component: 'x' });
    expect(outside).not.toHaveProperty('traceId');
    expect(getLogContext()).toBeUndefined();
  });

  it('keeps concurrent contexts apart', async () => {
    const { logger, destination } = capture();

    await Promise.all(
      ['a', 'b', 'c'].map((messageId, i) =>
        withLogContext({ messageId }, async () => {
          await sleep(3 - i);
          logger.info(messageId);
        }),
      ),
    );

    for (const record of destination.records()) {
      expect(record.messageId).toBe(record.msg);
    }
  });

  it('carries only the known identifier fields, and scrubs them like any field', () => {
    const { logger, destination } = capture();
    const smuggled = { messageId: '+14155550123', to: '+14155550124', body: 'hello' } as LogContext;

    withLogContext(smuggled, () => logger.info('x'));

    const [record] = destination.records();
    expect(record?.messageId).toBe('[redacted:phone]');
    expect(record).not.toHaveProperty('to');
    expect(record).not.toHaveProperty('body');
  });

  it('lets fields given at the call site win over the context', () => {
    const { logger, destination } = capture();

    withLogContext({ topic: 'eu.sms.status.v1' }, () => logger.info({ topic: 'eu.sms.rejected.v1' }, 'x'));

    expect(destination.records()[0]?.topic).toBe('eu.sms.rejected.v1');
  });

  it('returns what the function returns', () => {
    expect(withLogContext({ traceId: 't' }, () => getLogContext()?.traceId)).toBe('t');
  });
});
