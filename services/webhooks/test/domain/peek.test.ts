import { encodeJson, type StatusEvent, statusEventSchema } from '@massivesms/contracts';
import { describe, expect, it } from 'vitest';
import { decodeStatusRecord } from '../../src/application/intake.ts';
import { peekJsonString } from '../../src/domain/peek.ts';

const event: StatusEvent = {
  eventId: 'ev-1',
  messageId: 'm-1',
  controllerId: 'acme',
  campaignId: 'c1',
  region: 'us',
  status: 'queued',
  statusSeq: 1,
  carrier: 'telnyx',
  occurredAt: '2026-12-04T09:00:00.000Z',
};
const bytes = (e: Partial<StatusEvent>) => encodeJson(statusEventSchema, { ...event, ...e });
const raw = (text: string) => Buffer.from(text);

describe('peekJsonString: a field read without parsing, or undefined when it cannot be read for sure', () => {
  it.each([
    ['a compact record', bytes({}), 'status', 'queued'],
    ['the first field', raw('{"status":"sent","x":1}'), 'status', 'sent'],
    ['the controller', bytes({}), 'controllerId', 'acme'],
    [
      'a reason that quotes the field (escaped in JSON)',
      bytes({ reason: '"status":"delivered"' }),
      'status',
      'queued',
    ],
    ['a field that is absent', raw('{"a":"b"}'), 'status', undefined],
    ['a field that appears twice', raw('{"status":"queued","status":"delivered"}'), 'status', undefined],
    ['a key that only ends in the name', raw('{"substatus":"x","status":"sent"}'), 'status', 'sent'],
    ['whitespace after the colon', raw('{"status": "delivered"}'), 'status', undefined],
    ['a value with an escape', raw('{"controllerId":"ac\\u006de"}'), 'controllerId', undefined],
    ['a value that is not a string', raw('{"status":7}'), 'status', undefined],
    ['an unterminated value', raw('{"status":"deliv'), 'status', undefined],
    ['not JSON at all', raw('status'), 'status', undefined],
  ])('%s', (_, value, field, expected) => {
    expect(peekJsonString(value, field)).toBe(expected);
  });

  it('agrees with JSON.parse whenever it answers, whatever the reason text holds', () => {
    const tricky = [
      '',
      '"',
      '\\',
      '"status":"sent"',
      ',"status":"sent"',
      '{"status":"sent"}',
      'é ✓',
      '\\"status\\":\\"x\\"',
    ];
    for (const reason of tricky) {
      const value = bytes({ reason });
      const parsed = JSON.parse(value.toString()) as StatusEvent;
      for (const field of ['status', 'controllerId'] as const) {
        const peeked = peekJsonString(value, field);
        if (peeked !== undefined) expect(peeked).toBe(parsed[field]);
      }
      expect(peekJsonString(value, 'status')).toBe('queued');
    }
  });
});

describe('decodeStatusRecord: statuses nobody subscribes to are passed over undecoded', () => {
  const onlyDelivered = (controllerId: string, eventType: string) =>
    controllerId === 'acme' && eventType === 'message.delivered';

  it('passes over a status nobody subscribes to without validating it', () => {
    // Not a valid status event (fields missing): decoding it would throw.
    expect(
      decodeStatusRecord(onlyDelivered, raw('{"controllerId":"acme","status":"queued"}')),
    ).toBeUndefined();
    expect(
      decodeStatusRecord(onlyDelivered, bytes({ controllerId: 'other', status: 'delivered' })),
    ).toBeUndefined();
  });

  it('decodes a status someone subscribes to', () => {
    expect(decodeStatusRecord(onlyDelivered, bytes({ status: 'delivered' }))).toEqual({
      ...event,
      status: 'delivered',
    });
  });

  it.each([
    ['a subscribed status that is not a valid event', raw('{"controllerId":"acme","status":"delivered"}')],
    ['a status that is not one of ours', raw('{"controllerId":"acme","status":"lost"}')],
    ['a record whose fields cannot be peeked', raw('{"controllerId": "acme", "status": "queued"}')],
    ['no value', null],
  ])('decodes in full, and so refuses (dead letter), %s', (_, value) => {
    expect(() => decodeStatusRecord(onlyDelivered, value)).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^CONTRACT_(INVALID|UNDECODABLE)$/) }),
    );
  });

  it('decodes in full when the status appears twice: the last one counts, and it is subscribed', () => {
    const twice = Buffer.from(bytes({ status: 'delivered' }).toString().replace('{', '{"status":"queued",'));
    expect(decodeStatusRecord(onlyDelivered, twice)).toMatchObject({ status: 'delivered' });
  });
});
