import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger, createMemoryDestination, REDACTED, redactPaths } from '../src/index.ts';
import { capture, EMAIL, PHONE, SPACED_PHONE } from './helpers.ts';

const PH = '[redacted:phone]';
const EM = '[redacted:email]';

describe('createLogger', () => {
  it('writes one JSON line per call with an ISO timestamp, level label, service and message', () => {
    const { logger, destination } = capture();

    logger.info('started');
    logger.warn({ durationMs: 12 }, 'slow');

    const [first, second] = destination.records();
    expect(destination.lines.every((line) => line.endsWith('\n'))).toBe(true);
    expect(first).toMatchObject({ level: 'info', service: 'test-service', msg: 'started', pid: process.pid });
    expect(new Date(first?.time as string).toISOString()).toBe(first?.time);
    expect(second).toMatchObject({ level: 'warn', durationMs: 12, msg: 'slow' });
  });

  it('drops lines below the configured level', () => {
    const { logger, destination } = capture('warn');

    logger.debug('no');
    logger.info('no');
    logger.warn('yes');
    logger.error('yes');

    expect(destination.records().map((r) => r.level)).toEqual(['warn', 'error']);
  });

  it('keeps printf-like text literal, since the interface takes no format arguments', () => {
    const { logger, destination } = capture();

    logger.info('100%s done %d');
    logger.info({ a: 1 }, 'still %s literal');

    expect(destination.records().map((r) => r.msg)).toEqual(['100%s done %d', 'still %s literal']);
  });

  it('child loggers add their bindings and keep redaction', () => {
    const { logger, destination } = capture();

    logger
      .child({ component: 'router', recipient: PHONE, note: `for ${EMAIL}` })
      .info({ to: PHONE }, 'routed');

    const [record] = destination.records();
    expect(record).toMatchObject({
      component: 'router',
      recipient: REDACTED,
      note: `for ${EM}`,
      to: REDACTED,
      msg: 'routed',
    });
  });

  it('writes each key once: a field named like a bound key (service, a child binding) is kept as <key>Field', () => {
    const { logger, destination } = capture();

    logger.info({ service: 'router', applied: [1] }, 'migrations applied');
    logger.child({ component: 'outbox' }).warn({ component: 'relay', pid: 1, hostname: 'h' }, 'x');

    const keys = (line: string) => [...line.matchAll(/"([^"]+)":/g)].map((m) => m[1]);
    for (const line of destination.lines) expect(keys(line)).toEqual([...new Set(keys(line))]);
    const [first, second] = destination.records();
    expect(first).toMatchObject({ service: 'test-service', serviceField: 'router', applied: [1] });
    expect(second).toMatchObject({
      component: 'outbox',
      componentField: 'relay',
      pid: process.pid,
      pidField: 1,
      hostnameField: 'h',
    });
  });

  it('methods can be passed around without losing their logger', async () => {
    const { logger, destination } = capture();
    const { error } = logger;

    setImmediate(error, new Error('a'));
    await new Promise((resolve) => setImmediate(resolve));

    expect(destination.records()[0]).toMatchObject({
      level: 'error',
      msg: 'a',
      err: { type: 'Error', message: 'a' },
    });
  });

  it('writes to stdout by default', async () => {
    const entry = fileURLToPath(new URL('./fixtures/log-to-stdout.ts', import.meta.url));

    const { stdout } = await promisify(execFile)(process.execPath, [entry]);

    expect(JSON.parse(stdout)).toMatchObject({ service: 'fixture', offset: '7', msg: `call ${PH}` });
  });
});

describe('redaction of personal data', () => {
  it('censors known personal and credential fields at the top level and two levels down', () => {
    const { logger, destination } = capture();

    logger.info({
      to: '+1 (415) 555 0123',
      from: 'ACME',
      body: 'Hi Jane, your code is 1234',
      name: 'Jane Doe',
      phoneNumber: '4155550123',
      request: { to: 'x', body: 'y', text: 'z', recipient: 'r', email: 'e' },
      req: {
        headers: { authorization: 'Bearer abc', cookie: 'sid=1', 'set-cookie': 'sid=2', accept: 'json' },
      },
      recipients: [{ phone: '4155550123', name: 'Jane' }],
    });

    const [record] = destination.records();
    expect(record).toMatchObject({
      to: REDACTED,
      from: REDACTED,
      body: REDACTED,
      name: REDACTED,
      phoneNumber: REDACTED,
      request: { to: REDACTED, body: REDACTED, text: REDACTED, recipient: REDACTED, email: REDACTED },
      req: { headers: { authorization: REDACTED, cookie: REDACTED, 'set-cookie': REDACTED, accept: 'json' } },
      recipients: REDACTED,
    });
    expect(destination.text()).not.toMatch(/Jane|4155550123|Bearer|sid=/);
    expect(redactPaths).toContain('*.*.authorization');
  });

  it('scrubs phone numbers and e-mail addresses from every string, wherever they are', () => {
    const { logger, destination } = capture();

    logger.info(`sending to ${PHONE} and ${EMAIL}`);
    logger.info(
      { job: { note: `call ${SPACED_PHONE}`, contacts: ['ok', `mail ${EMAIL}`, [PHONE]] } },
      'nested',
    );
    logger.info({ carrierResponse: `rejected ${PHONE}`, [`by:${EMAIL}`]: 1 }, 'unknown fields');
    logger.info({ url: new URL(`mailto:${EMAIL}`), when: new Date(0) }, 'objects with toJSON');

    const records = destination.records();
    expect(records[0]?.msg).toBe(`sending to ${PH} and ${EM}`);
    expect(records[1]?.job).toEqual({ note: `call ${PH}`, contacts: ['ok', `mail ${EM}`, [PH]] });
    expect(records[2]).toMatchObject({ carrierResponse: `rejected ${PH}`, [`by:${EM}`]: 1 });
    expect(records[3]).toMatchObject({ url: `mailto:${EM}`, when: '1970-01-01T00:00:00.000Z' });
    expect(destination.text()).not.toMatch(/4155550123|555-0123|jane\.doe|example\.co\.uk/);
  });

  it('scrubs Error messages and stacks however the Error is passed', () => {
    const { logger, destination } = capture();
    const cause = new Error(`carrier said ${EMAIL} is blocked`);
    const error = Object.assign(new Error(`invalid recipient ${PHONE}`, { cause }), {
      code: 'SMS_INVALID_RECIPIENT',
      details: { number: SPACED_PHONE },
    });

    logger.error(error);
    logger.error({ err: error });
    logger.error({ err: error }, 'with message');
    logger.error({ failure: { reason: error } }, 'nested error');

    const text = destination.text();
    expect(text).not.toMatch(/4155550123|555-0123|jane\.doe/);
    const [asArg, asField, withMsg, nested] = destination.records();
    for (const record of [asArg, asField, withMsg]) {
      const err = record?.err as { stack: string };
      expect(err).toMatchObject({
        type: 'Error',
        code: 'SMS_INVALID_RECIPIENT',
        details: { number: PH },
        message: `invalid recipient ${PH}: carrier said ${EM} is blocked`,
      });
      expect(err.stack).toContain(`Error: invalid recipient ${PH}`);
      expect(err.stack).toContain(`caused by: Error: carrier said ${EM} is blocked`);
    }
    expect(asArg?.msg).toBe(`invalid recipient ${PH}`);
    expect(asField?.msg).toBe(`invalid recipient ${PH}`);
    expect(withMsg?.msg).toBe('with message');
    const failure = nested?.failure as { reason: { message: string } };
    expect(failure.reason.message).toContain(PH);
  });

  it('leaves non-personal numbers alone', () => {
    const { logger, destination } = capture();

    logger.info(
      {
        offset: '12345',
        partition: 3,
        bigOffset: '1234567890123',
        durationMs: 1234567,
        took: '+250ms',
        delta: '+12345',
        at: '2024-05-01T10:00:00+02:00',
        version: 'pino@10.4.0',
      },
      'offset 12345 processed in 987654 ms',
    );

    const [record] = destination.records();
    expect(record).toMatchObject({
      offset: '12345',
      partition: 3,
      bigOffset: '1234567890123',
      durationMs: 1234567,
      took: '+250ms',
      delta: '+12345',
      at: '2024-05-01T10:00:00+02:00',
      version: 'pino@10.4.0',
      msg: 'offset 12345 processed in 987654 ms',
    });
  });

  it('survives circular references and does not modify the logged object', () => {
    const { logger, destination } = capture();
    const data: Record<string, unknown> = { note: PHONE };
    data.self = data;

    logger.info({ data }, 'circular');

    expect(destination.records()[0]?.data).toEqual({ note: PH, self: '[Circular]' });
    expect(data.note).toBe(PHONE);
  });

  it('scrubs the service name and bindings given at creation', () => {
    const destination = createMemoryDestination();

    createLogger({ service: `svc:${EMAIL}`, destination }).info('x');

    expect(destination.records()[0]?.service).toBe(`svc:${EM}`);
  });
});
