-- Verified carrier receipts waiting to be applied. The ingress answers the carrier once a receipt is
-- here (one INSERT), well inside the carrier's deadline (Telnyx: 2 s, then retries and gives up);
-- the applier works through the inbox in batches behind it, holding each batch for a while
-- (`taken_until`). A crash before a row is deleted applies it again once that passes, which changes
-- nothing (dispatcher_receipts deduplicates).
CREATE TABLE dispatcher_receipt_inbox (
  dedupe_key   text PRIMARY KEY,
  receipt      jsonb NOT NULL,
  received_at  timestamptz NOT NULL,
  taken_until  timestamptz
);
CREATE INDEX dispatcher_receipt_inbox_received ON dispatcher_receipt_inbox (received_at);
