-- Events (statuses, suppressions, processing events) written in the same statement as the state
-- change they announce; the outbox relay (libs/outbox) publishes them and deletes them once the
-- broker acknowledged (DESIGN.md §5.0).
CREATE TABLE dispatcher_outbox (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic    text NOT NULL,
  key      text,
  value    bytea,
  headers  jsonb
);

-- Receipts are applied in the order they arrived (a `sent` acknowledged before `delivered` must
-- not be applied after it, or the message never gets its `sent` status); received_at can tie.
ALTER TABLE dispatcher_receipt_inbox ADD COLUMN arrival bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX dispatcher_receipt_inbox_arrival ON dispatcher_receipt_inbox (arrival);
DROP INDEX dispatcher_receipt_inbox_received;

-- A claimed message whose validUntil passed before its carrier call (it waited behind a rate limit
-- or a hold) is closed as `expired` and never sent.
ALTER TABLE dispatcher_messages DROP CONSTRAINT dispatcher_messages_status_check;
ALTER TABLE dispatcher_messages ADD CONSTRAINT dispatcher_messages_status_check
  CHECK (status IN ('sending', 'queued', 'sent', 'delivered', 'undelivered', 'failed', 'unknown', 'expired'));
