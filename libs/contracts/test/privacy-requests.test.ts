import { describe, expect, it } from 'vitest';
import {
  MAX_PRIVACY_ACK_BYTES,
  type PrivacyRequest,
  privacyAckRecords,
  privacyAckSchema,
  privacyRequestSchema,
  processingEventSchema,
} from '../src/index.ts';

const request: PrivacyRequest = {
  requestId: 'dsr_1',
  controllerId: 'acme',
  region: 'eu',
  type: 'access',
  subjectPseudonym: 'ps_abc',
  subject: 'v1.aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbb',
  requestedAt: '2026-12-04T12:00:00.000Z',
};
const where = { cell: 'eu' as const, namespace: '' };
const now = new Date('2026-12-04T12:00:01Z');
const parse = (records: ReturnType<typeof privacyAckRecords>) => ({
  ack: privacyAckSchema.parse(JSON.parse(records[0]!.value.toString())),
  event: processingEventSchema.parse(JSON.parse(records[1]!.value.toString())),
});

describe('privacy requests and acknowledgements', () => {
  it('refuses a plaintext number where the sealed one belongs', () => {
    expect(privacyRequestSchema.safeParse({ ...request, subject: '+4915112345678' }).success).toBe(false);
  });

  it('acknowledges with an audit event, both with ids derived from request and service', () => {
    const records = privacyAckRecords(
      where,
      'router',
      request,
      { outcome: 'done', export: request.subject },
      now,
    );
    expect(records.map((r) => [r.topic, r.key])).toEqual([
      ['eu.privacy.acks.v1', 'dsr_1'],
      ['eu.audit.processing.v1', 'acme'],
    ]);
    const { ack, event } = parse(records);
    expect(ack).toMatchObject({ service: 'router', outcome: 'done', export: request.subject });
    expect(event).toMatchObject({ service: 'router', operation: 'dsr.access', subjectPseudonym: 'ps_abc' });
    const again = parse(privacyAckRecords(where, 'router', request, { outcome: 'done' }, new Date()));
    expect([again.ack.ackId, again.event.eventId]).toEqual([ack.ackId, event.eventId]);
    expect(parse(privacyAckRecords(where, 'webhooks', request, { outcome: 'done' }, now)).ack.ackId).not.toBe(
      ack.ackId,
    );
  });

  it('turns an export too large for one record into a failed acknowledgement (never a stuck outbox)', () => {
    const huge = `v1.aaaaaaaaaaaaaaaa.${'b'.repeat(MAX_PRIVACY_ACK_BYTES)}`;
    const records = privacyAckRecords(where, 'webhooks', request, { outcome: 'done', export: huge }, now);
    expect(records[0]!.value.length).toBeLessThan(MAX_PRIVACY_ACK_BYTES);
    const { ack, event } = parse(records);
    expect(ack.outcome).toBe('failed');
    expect(ack.export).toBeUndefined();
    expect(ack.reason).toMatch(/at most 262144/);
    expect(event.outcome).toBe('failed');
  });
});
