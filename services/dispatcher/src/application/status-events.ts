import {
  type Cell,
  encodeJson,
  eventIdFor,
  type StatusEvent,
  statusEventSchema,
  topicFor,
} from '@massivesms/contracts';
import type { OutgoingRecord } from '@massivesms/messaging';
import { traceHeaders } from '@massivesms/telemetry';
import type { DispatchRow } from './ports.ts';

/**
 * The `sms.status.v1` record for a message's stored state: one builder for the send path, receipts
 * and reconciliation, so every path publishes the same fields (statusSeq orders them for consumers).
 */
export function statusRecord(
  where: { readonly cell: Cell; readonly namespace: string },
  row: DispatchRow,
  now: Date,
  extra: { readonly recipient?: string; readonly segments?: number } = {},
): OutgoingRecord {
  const segments = row.segments ?? extra.segments;
  const event: StatusEvent = {
    // Derived from the change: a republished status is recognisably the same event.
    eventId: eventIdFor('sms.status', row.controllerId, row.messageId, row.statusSeq),
    messageId: row.messageId,
    controllerId: row.controllerId,
    campaignId: row.campaignId,
    region: where.cell,
    status: row.status as StatusEvent['status'],
    statusSeq: row.statusSeq,
    carrier: row.carrier,
    ...(row.carrierMessageId ? { carrierMessageId: row.carrierMessageId } : {}),
    ...(segments ? { segments } : {}),
    ...(row.errorCode ? { errorCode: row.errorCode } : {}),
    ...(row.reason ? { reason: row.reason } : {}),
    ...(extra.recipient ? { recipient: extra.recipient } : {}),
    occurredAt: now.toISOString(),
  };
  return {
    topic: topicFor(where.cell, 'sms.status.v1', where.namespace),
    key: `${row.controllerId}:${row.messageId}`,
    value: encodeJson(statusEventSchema, event),
    headers: { region: where.cell, controller: row.controllerId, schema: 'sms.status.v1', ...traceHeaders() },
  };
}
