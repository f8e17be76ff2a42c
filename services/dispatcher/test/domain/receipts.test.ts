import { describe, expect, it } from 'vitest';
import type { CarrierErrorCode } from '../../src/domain/carrier-codes.ts';
import {
  mapTelnyxReceipt,
  mapTwilioReceipt,
  type ReceiptMapping,
  type ReceiptStatus,
  type TelnyxReceipt,
  type TwilioReceipt,
} from '../../src/domain/receipts.ts';

// Expected answers come from the carriers' status vocabularies (reference/carriers.md) and the
// decisions written at the top of receipts.ts. Whole results are compared, so a stray errorCode on a
// `delivered`, a missing `suppress`, or a reason that leaks the carrier's free text fails the row.

const ok = (status: ReceiptStatus): ReceiptMapping => ({ kind: 'status', status, suppress: false });
const bad = (
  status: ReceiptStatus,
  errorCode: CarrierErrorCode,
  reason: string,
  carrierCode?: string,
  suppress = false,
): ReceiptMapping => ({
  kind: 'status',
  status,
  errorCode,
  reason,
  ...(carrierCode === undefined ? {} : { carrierCode }),
  suppress,
});

const telnyxRows: { name: string; r: TelnyxReceipt; expected: ReceiptMapping }[] = [
  {
    name: 'sent event, to[].status queued',
    r: { eventType: 'message.sent', to: [{ status: 'queued' }] },
    expected: ok('queued'),
  },
  {
    name: 'sent event, sending → still queued at the carrier',
    r: { eventType: 'message.sent', to: [{ status: 'sending' }] },
    expected: ok('queued'),
  },
  {
    name: 'sent event, sent',
    r: { eventType: 'message.sent', to: [{ status: 'sent' }] },
    expected: ok('sent'),
  },
  {
    name: 'sent event without a per-recipient status means sent',
    r: { eventType: 'message.sent', to: [] },
    expected: ok('sent'),
  },
  { name: 'sent event without to at all means sent', r: { eventType: 'message.sent' }, expected: ok('sent') },
  {
    name: 'finalized, delivered',
    r: { eventType: 'message.finalized', to: [{ status: 'delivered' }] },
    expected: ok('delivered'),
  },
  {
    name: 'finalized, delivered: errors on a success are not reported',
    r: { eventType: 'message.finalized', to: [{ status: 'delivered' }], errors: [{ code: '40008' }] },
    expected: ok('delivered'),
  },
  {
    name: 'finalized, sending_failed without errors',
    r: { eventType: 'message.finalized', to: [{ status: 'sending_failed' }], errors: [] },
    expected: bad('failed', 'CARRIER_SENDING_FAILED', 'telnyx: failed without an error code'),
  },
  {
    name: 'finalized, sending_failed with 40009',
    r: { eventType: 'message.finalized', to: [{ status: 'sending_failed' }], errors: [{ code: '40009' }] },
    expected: bad('failed', 'CARRIER_INVALID_BODY', 'telnyx 40009: invalid message body', '40009'),
  },
  {
    name: 'finalized, delivery_failed with 40001',
    r: { eventType: 'message.finalized', to: [{ status: 'delivery_failed' }], errors: [{ code: '40001' }] },
    expected: bad(
      'undelivered',
      'CARRIER_UNROUTABLE',
      'telnyx 40001: not routable (landline or non-routable number)',
      '40001',
    ),
  },
  {
    name: 'delivery_failed with 40002 (spam, temporary)',
    r: { eventType: 'message.finalized', to: [{ status: 'delivery_failed' }], errors: [{ code: '40002' }] },
    expected: bad(
      'undelivered',
      'CARRIER_CONTENT_REJECTED',
      'telnyx 40002: blocked as spam (temporary)',
      '40002',
    ),
  },
  {
    name: 'delivery_failed with 40003 (spam, permanent)',
    r: { eventType: 'message.finalized', to: [{ status: 'delivery_failed' }], errors: [{ code: '40003' }] },
    expected: bad(
      'undelivered',
      'CARRIER_CONTENT_REJECTED',
      'telnyx 40003: blocked as spam (permanent)',
      '40003',
    ),
  },
  {
    name: 'delivery_failed with 40005 (expired)',
    r: { eventType: 'message.finalized', to: [{ status: 'delivery_failed' }], errors: [{ code: '40005' }] },
    expected: bad('undelivered', 'CARRIER_EXPIRED', 'telnyx 40005: expired during transmission', '40005'),
  },
  {
    name: 'delivery_failed with 40006 (recipient unavailable)',
    r: { eventType: 'message.finalized', to: [{ status: 'delivery_failed' }], errors: [{ code: '40006' }] },
    expected: bad('undelivered', 'CARRIER_UNREACHABLE', 'telnyx 40006: recipient unavailable', '40006'),
  },
  {
    name: 'delivery_failed with 40008 (undeliverable), numeric code',
    r: { eventType: 'message.finalized', to: [{ status: 'delivery_failed' }], errors: [{ code: 40008 }] },
    expected: bad('undelivered', 'CARRIER_UNDELIVERABLE', 'telnyx 40008: undeliverable', '40008'),
  },
  {
    name: 'the first known code wins over an unknown one before it',
    r: {
      eventType: 'message.finalized',
      to: [{ status: 'delivery_failed' }],
      errors: [{ code: '49999' }, { code: '40006' }],
    },
    expected: bad('undelivered', 'CARRIER_UNREACHABLE', 'telnyx 40006: recipient unavailable', '40006'),
  },
  {
    name: 'an unknown code keeps the generic code and names the carrier code',
    r: {
      eventType: 'message.finalized',
      to: [{ status: 'delivery_failed' }],
      errors: [{}, { code: ' 49999 ' }],
    },
    expected: bad('undelivered', 'CARRIER_UNDELIVERABLE', 'telnyx 49999: unclassified error', '49999'),
  },
  {
    name: 'an opt-out code in a receipt asks for suppression',
    r: { eventType: 'message.finalized', to: [{ status: 'sending_failed' }], errors: [{ code: '40300' }] },
    expected: bad(
      'failed',
      'CARRIER_OPTED_OUT',
      'telnyx 40300: blocked by a STOP from the recipient',
      '40300',
      true,
    ),
  },
  {
    name: 'delivery_unconfirmed is final: undelivered, flagged as unconfirmed',
    r: {
      eventType: 'message.finalized',
      to: [{ status: 'delivery_unconfirmed' }],
      errors: [{ code: '40008' }],
    },
    expected: bad(
      'undelivered',
      'CARRIER_DELIVERY_UNCONFIRMED',
      'telnyx: sent, but no delivery confirmation came back (it may have been delivered)',
    ),
  },
  {
    name: 'finalized without any status is not guessed',
    r: { eventType: 'message.finalized', to: [{}] },
    expected: { kind: 'ignore', code: 'RECEIPT_UNKNOWN_STATUS', reason: 'telnyx: unknown status "(none)"' },
  },
  {
    name: 'an unknown status is not guessed',
    r: { eventType: 'message.finalized', to: [{ status: 'gw_timeout' }] },
    expected: {
      kind: 'ignore',
      code: 'RECEIPT_UNKNOWN_STATUS',
      reason: 'telnyx: unknown status "gw_timeout"',
    },
  },
  {
    name: 'a status named like an Object.prototype member is unknown',
    r: { eventType: 'message.finalized', to: [{ status: 'toString' }] },
    expected: { kind: 'ignore', code: 'RECEIPT_UNKNOWN_STATUS', reason: 'telnyx: unknown status "toString"' },
  },
  {
    name: 'an inbound message is not a receipt',
    r: { eventType: 'message.received', to: [{ status: 'delivered' }] },
    expected: {
      kind: 'ignore',
      code: 'RECEIPT_NOT_A_STATUS',
      reason: 'telnyx: event message.received is not a delivery receipt',
    },
  },
];

describe('mapTelnyxReceipt', () => {
  it.each(telnyxRows)('$name', ({ r, expected }) => {
    expect(mapTelnyxReceipt(r)).toEqual(expected);
  });
});

const twilioRows: { name: string; r: TwilioReceipt; expected: ReceiptMapping }[] = [
  { name: 'accepted (messaging service)', r: { messageStatus: 'accepted' }, expected: ok('queued') },
  { name: 'scheduled', r: { messageStatus: 'scheduled' }, expected: ok('queued') },
  { name: 'queued', r: { messageStatus: 'queued' }, expected: ok('queued') },
  { name: 'sending is still at the carrier', r: { messageStatus: 'sending' }, expected: ok('queued') },
  { name: 'sent', r: { messageStatus: 'sent' }, expected: ok('sent') },
  { name: 'delivered', r: { messageStatus: 'delivered' }, expected: ok('delivered') },
  { name: 'read implies delivered', r: { messageStatus: 'read' }, expected: ok('delivered') },
  {
    name: 'an ErrorCode on a success is not reported',
    r: { messageStatus: 'delivered', errorCode: '30008' },
    expected: ok('delivered'),
  },
  {
    name: 'canceled → failed',
    r: { messageStatus: 'canceled' },
    expected: bad('failed', 'CARRIER_CANCELED', 'twilio: canceled before sending'),
  },
  {
    name: 'undelivered 30003',
    r: { messageStatus: 'undelivered', errorCode: '30003' },
    expected: bad(
      'undelivered',
      'CARRIER_UNREACHABLE',
      'twilio 30003: unreachable destination handset',
      '30003',
    ),
  },
  {
    name: 'undelivered 30005',
    r: { messageStatus: 'undelivered', errorCode: '30005' },
    expected: bad(
      'undelivered',
      'CARRIER_INVALID_NUMBER',
      'twilio 30005: unknown destination handset',
      '30005',
    ),
  },
  {
    name: 'undelivered 30006',
    r: { messageStatus: 'undelivered', errorCode: '30006' },
    expected: bad(
      'undelivered',
      'CARRIER_LANDLINE',
      'twilio 30006: landline or unreachable carrier',
      '30006',
    ),
  },
  {
    name: 'undelivered 30007',
    r: { messageStatus: 'undelivered', errorCode: '30007' },
    expected: bad('undelivered', 'CARRIER_CONTENT_REJECTED', 'twilio 30007: message filtered', '30007'),
  },
  {
    name: 'undelivered 30008',
    r: { messageStatus: 'undelivered', errorCode: '30008' },
    expected: bad('undelivered', 'CARRIER_UNDELIVERABLE', 'twilio 30008: unknown delivery error', '30008'),
  },
  {
    name: 'undelivered 30004',
    r: { messageStatus: 'undelivered', errorCode: '30004' },
    expected: bad('undelivered', 'CARRIER_BLOCKED', 'twilio 30004: message blocked', '30004'),
  },
  {
    name: 'failed 30001',
    r: { messageStatus: 'failed', errorCode: '30001' },
    expected: bad('failed', 'CARRIER_QUEUE_FULL', 'twilio 30001: queue overflow', '30001'),
  },
  {
    name: 'failed 30002',
    r: { messageStatus: 'failed', errorCode: '30002' },
    expected: bad('failed', 'CARRIER_ACCOUNT_SUSPENDED', 'twilio 30002: account suspended', '30002'),
  },
  {
    name: 'failed 21610 asks for suppression',
    r: { messageStatus: 'failed', errorCode: '21610' },
    expected: bad(
      'failed',
      'CARRIER_OPTED_OUT',
      'twilio 21610: recipient unsubscribed (STOP)',
      '21610',
      true,
    ),
  },
  {
    name: 'failed with an unknown code',
    r: { messageStatus: 'failed', errorCode: '30999' },
    expected: bad('failed', 'CARRIER_SENDING_FAILED', 'twilio 30999: unclassified error', '30999'),
  },
  {
    name: 'undelivered without a code',
    r: { messageStatus: 'undelivered' },
    expected: bad('undelivered', 'CARRIER_UNDELIVERABLE', 'twilio: undelivered without an error code'),
  },
  {
    name: 'failed with an empty ErrorCode field',
    r: { messageStatus: 'failed', errorCode: '' },
    expected: bad('failed', 'CARRIER_SENDING_FAILED', 'twilio: failed without an error code'),
  },
  {
    name: 'inbound (received) is not a receipt',
    r: { messageStatus: 'received' },
    expected: {
      kind: 'ignore',
      code: 'RECEIPT_NOT_A_STATUS',
      reason: 'twilio: inbound message, not a delivery receipt',
    },
  },
  {
    name: 'inbound (receiving) is not a receipt',
    r: { messageStatus: 'receiving' },
    expected: {
      kind: 'ignore',
      code: 'RECEIPT_NOT_A_STATUS',
      reason: 'twilio: inbound message, not a delivery receipt',
    },
  },
  {
    name: 'an unknown status is not guessed',
    r: { messageStatus: 'partially_delivered' },
    expected: {
      kind: 'ignore',
      code: 'RECEIPT_UNKNOWN_STATUS',
      reason: 'twilio: unknown status "partially_delivered"',
    },
  },
  {
    name: 'a long unknown status is cut in the reason',
    r: { messageStatus: 'x'.repeat(100) },
    expected: {
      kind: 'ignore',
      code: 'RECEIPT_UNKNOWN_STATUS',
      reason: `twilio: unknown status "${'x'.repeat(40)}"`,
    },
  },
];

describe('mapTwilioReceipt', () => {
  it.each(twilioRows)('$name', ({ r, expected }) => {
    expect(mapTwilioReceipt(r)).toEqual(expected);
  });
});
