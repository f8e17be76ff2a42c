-- Reconciliation sweeps every message that has no terminal status yet: `sending` (the process died
-- mid-call), `unknown` (no receipt for an ambiguous outcome) and `queued`/`sent` (accepted, but no
-- final receipt by the receipt deadline: the carrier is asked). One partial index over them; a
-- terminal message leaves it, so its size follows the messages in flight, not the history.
DROP INDEX dispatcher_messages_unknown;
CREATE INDEX dispatcher_messages_in_flight ON dispatcher_messages (updated_at)
  WHERE status IN ('sending', 'queued', 'sent', 'unknown');
-- When the carrier was last asked about a message without a final receipt (null: never).
ALTER TABLE dispatcher_messages ADD COLUMN checked_at timestamptz;
