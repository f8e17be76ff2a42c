import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  cellTopics,
  decodeHeaders,
  decodeJson,
  encodeJson,
  errorCodes,
  instructionRef,
  newTraceparent,
  recordHeaders,
  recordHeadersSchema,
  renderJsonSchemas,
  schemaDir,
  smsRequestSchema,
  statusEventSchema,
  topicFor,
  topicTable,
} from '../src/index.ts';

const example = JSON.parse(
  readFileSync(new URL('../examples/sms.requested.v1.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('JSON Schema export', () => {
  it('the committed schema files match the code (run `npm run contracts:export` after a change)', () => {
    for (const [file, text] of renderJsonSchemas()) {
      const committed = readFileSync(new URL(file, schemaDir), 'utf8');
      expect(committed, `${file} is stale`).toBe(text);
    }
  });

  it('an independent validator (ajv) accepts the documented example and rejects what the code rejects', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv);
    const schema = JSON.parse(readFileSync(new URL('sms.requested.v1.schema.json', schemaDir), 'utf8'));
    const validate = ajv.compile(schema);
    expect(validate(example)).toBe(true);
    for (const bad of [
      { ...example, messageId: '' },
      { ...example, purpose: 'Not A Purpose' },
      { ...example, unexpected: 1 },
      { ...example, validUntil: 'tomorrow' },
      { ...example, body: 'x'.repeat(1601) },
    ]) {
      expect(validate(bad)).toBe(false);
      expect(smsRequestSchema.safeParse(bad).success).toBe(false);
    }
  });
});

describe('decoding a request', () => {
  it('accepts the documented example', () => {
    const result = decodeJson(smsRequestSchema, bytes(example));
    expect(result.ok).toBe(true);
  });

  it.each([
    ['an empty value', Buffer.alloc(0), 'CONTRACT_UNDECODABLE', undefined],
    ['a null value', null, 'CONTRACT_UNDECODABLE', undefined],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'CONTRACT_UNDECODABLE', undefined],
    ['truncated JSON', Buffer.from('{"messageId": "a"'), 'CONTRACT_UNDECODABLE', undefined],
    ['a missing body', bytes({ ...example, body: undefined }), 'CONTRACT_INVALID', 'body'],
    ['a numeric recipient', bytes({ ...example, to: 14155550123 }), 'CONTRACT_INVALID', 'to'],
    ['an unknown field', bytes({ ...example, colour: 'red' }), 'CONTRACT_INVALID', undefined],
    ['an id with spaces', bytes({ ...example, messageId: 'a b' }), 'CONTRACT_INVALID', 'messageId'],
    [
      'metadata with 21 keys',
      bytes({ ...example, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])) }),
      'CONTRACT_INVALID',
      'metadata',
    ],
  ])('rejects %s with a stable code and the offending field', (_label, value, code, field) => {
    const result = decodeJson(smsRequestSchema, value);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe(code);
    expect(result.error.field).toBe(field);
    expect(result.error.retryable).toBe(false);
    expect(result.error.message.length).toBeGreaterThan(0);
    expect(Object.keys(errorCodes)).toContain(result.error.code);
  });

  it.each([
    ['a number with +', { ref: '+14155550123' }],
    ['a number without +', { ref: '14155550123' }],
    ['a URL-encoded number', { ref: 'cb?to=%2B14155550123' }],
    ['a spaced number', { note: 'call 00 44 20 7946 0958' }],
    ['an e-mail address', { who: 'jane.doe@example.com' }],
    ['a number as a key', { '+447400123456': true }],
  ])(
    'refuses metadata holding %s with SMS_METADATA_PERSONAL_DATA, quoting neither key nor value',
    (_label, metadata) => {
      const result = decodeJson(smsRequestSchema, bytes({ ...example, metadata }));
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error.code).toBe('SMS_METADATA_PERSONAL_DATA');
      expect(result.error.field).toBe('metadata');
      const [[key, value]] = Object.entries(metadata) as [[string, unknown]];
      expect(result.error.message).not.toContain(key);
      expect(result.error.message).not.toContain(String(value));
    },
  );

  it('accepts metadata of ids, offsets and timestamps', () => {
    const metadata = {
      orderId: '550e8400-e29b-41d4-a716-446655440000',
      batch: 1234567,
      at: '2026-12-04T14:04:09.123Z',
      epochMs: '1764857049123',
      campaign: 'winter-2026',
    };
    expect(decodeJson(smsRequestSchema, bytes({ ...example, metadata })).ok).toBe(true);
  });

  it('never echoes the offending value (it may be personal data) in the reason', () => {
    const result = decodeJson(
      smsRequestSchema,
      bytes({ ...example, to: '+4915112345678'.repeat(3), body: '' }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.message).not.toContain('4915112345678');
  });
});

describe('encoding', () => {
  it('refuses to serialise an invalid event, so a producer bug never reaches a topic', () => {
    expect(() =>
      encodeJson(statusEventSchema, {
        eventId: 'e1',
        messageId: 'm1',
        controllerId: 'c1',
        campaignId: 'k1',
        region: 'us',
        status: 'shipped' as never,
        statusSeq: 0,
        occurredAt: '2026-11-26T10:00:00Z',
      }),
    ).toThrowError(expect.objectContaining({ code: 'CONTRACT_INVALID', field: 'status' }));
  });

  it('round-trips a status event', () => {
    const event = {
      eventId: 'e1',
      messageId: 'm1',
      controllerId: 'c1',
      campaignId: 'k1',
      region: 'eu' as const,
      status: 'queued' as const,
      statusSeq: 2,
      carrier: 'telnyx' as const,
      carrierMessageId: '40317f5e-0000',
      segments: 2,
      recipient: 'v1.AAAA.BBBB',
      occurredAt: '2026-11-26T10:00:00.123+01:00',
    };
    const decoded = decodeJson(statusEventSchema, encodeJson(statusEventSchema, event));
    expect(decoded).toEqual({ ok: true, value: event });
  });
});

describe('record headers', () => {
  const good = {
    region: 'us',
    controller: 'acme-us',
    instruction: instructionRef('acme-us-sms', 3, 'a'.repeat(64)),
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    schema: 'sms.dispatch.v1',
    tracestate: 'vendor=1',
  };

  it('accepts the required headers and keeps extra ones', () => {
    expect(decodeHeaders(recordHeadersSchema, good)).toEqual({ ok: true, value: good });
  });

  it.each([
    ['region', { ...good, region: 'apac' }],
    ['instruction', { ...good, instruction: 'acme@3' }],
    ['traceparent', { ...good, traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }],
    ['controller', { ...good, controller: undefined }],
  ])('rejects a bad %s header', (field, headers) => {
    const result = decodeHeaders(recordHeadersSchema, headers);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('CONTRACT_HEADERS_INVALID');
      expect(result.error.field).toBe(field);
    }
  });
});

describe('topic table', () => {
  it('prefixes every topic with its cell (and the test namespace when given)', () => {
    expect(topicFor('eu', 'sms.status.v1')).toBe('eu.sms.status.v1');
    expect(topicFor('us', 'sms.status.v1', 't42')).toBe('t42.us.sms.status.v1');
    expect(new Set(cellTopics('us').map((t) => t.fullName)).size).toBe(topicTable.length);
  });

  it('keeps topics with personal data for days, not months, and compacts the state topics', () => {
    for (const topic of topicTable) {
      if (topic.cleanupPolicy === 'compact') expect(topic.retentionMs).toBeNull();
      if (topic.personalData) expect(topic.retentionMs).toBeLessThanOrEqual(7 * 24 * 3_600_000);
    }
    // A replay record must outlive its dead letter, or a second replay would produce it again.
    const retention = (name: string) => topicTable.find((t) => t.name === name)!.retentionMs!;
    expect(retention('deadletter.replayed.v1')).toBeGreaterThanOrEqual(retention('deadletter.v1'));
    expect(topicTable.filter((t) => t.cleanupPolicy === 'compact').map((t) => t.name)).toEqual([
      'controllers.v1',
      'endpoints.v1',
      'suppressions.v1',
    ]);
  });
});

describe('header helpers', () => {
  it('builds validated headers with a fresh, well-formed traceparent', () => {
    const a = newTraceparent();
    const b = newTraceparent();
    expect(a).not.toBe(b);
    const headers = recordHeaders({
      region: 'eu',
      controller: 'acme-eu',
      instruction: instructionRef('acme-eu-sms', 1, 'b'.repeat(64)),
      traceparent: a,
      schema: 'sms.dispatch.v1',
    });
    expect(headers).toMatchObject({ region: 'eu', traceparent: a, schema: 'sms.dispatch.v1' });
  });

  it('refuses to build headers without a valid region', () => {
    expect(() =>
      recordHeaders({
        region: 'mars' as 'us',
        controller: 'acme',
        instruction: instructionRef('i', 1, 'c'.repeat(64)),
        traceparent: newTraceparent(),
        schema: 'sms.dispatch.v1',
      }),
    ).toThrowError(expect.objectContaining({ code: 'CONTRACT_HEADERS_INVALID', field: 'region' }));
  });
});
