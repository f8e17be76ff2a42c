-- Dispatcher tables. Only services/dispatcher reads them.

-- One row per (controller, message): claimed in state `sending` BEFORE any carrier call, so a
-- redelivered Kafka record, a rebalance or a restart finds the row and never sends again.
CREATE TABLE dispatcher_messages (
  controller_id        text NOT NULL,
  message_id           text NOT NULL,
  campaign_id          text NOT NULL,
  status               text NOT NULL CHECK (status IN ('sending', 'queued', 'sent', 'delivered', 'undelivered', 'failed', 'unknown')),
  status_seq           integer NOT NULL,
  carrier              text NOT NULL CHECK (carrier IN ('telnyx', 'twilio')),
  attempt              integer NOT NULL CHECK (attempt >= 1),
  carrier_message_id   text,
  segments             integer,
  error_code           text,
  reason               text,
  recipient_pseudonym  text NOT NULL,
  instruction          text NOT NULL,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL,
  PRIMARY KEY (controller_id, message_id)
);
CREATE UNIQUE INDEX dispatcher_messages_carrier_id ON dispatcher_messages (carrier, carrier_message_id)
  WHERE carrier_message_id IS NOT NULL;
-- Ambiguous outcomes awaiting a receipt (reconciliation sweeps these).
CREATE INDEX dispatcher_messages_unknown ON dispatcher_messages (updated_at) WHERE status = 'unknown';

-- Carrier receipts already applied (Telnyx event id; Twilio MessageSid:MessageStatus:ErrorCode).
CREATE TABLE dispatcher_receipts (
  dedupe_key   text PRIMARY KEY,
  received_at  timestamptz NOT NULL
);
