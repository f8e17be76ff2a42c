-- The sender a message went out from: an inbound STOP to that number concerns the controllers that
-- used it to message that recipient.
ALTER TABLE dispatcher_messages ADD COLUMN sender text;
CREATE INDEX dispatcher_messages_recipient ON dispatcher_messages (controller_id, recipient_pseudonym, sender);

-- The global suppression list per controller, folded from {cell}.suppressions.v1 and checked before
-- every carrier attempt (a STOP that arrives after routing still stops the send).
CREATE TABLE dispatcher_suppressions (
  controller_id  text NOT NULL,
  pseudonym      text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('opt_out', 'restriction', 'objection')),
  active         boolean NOT NULL,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (controller_id, pseudonym, kind)
);
