-- Processing events of delivery attempts, written in the statement that records the attempt; the
-- outbox relay (libs/outbox) publishes them and deletes them once the broker acknowledged.
CREATE TABLE webhooks_outbox (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic    text NOT NULL,
  key      text,
  value    bytea,
  headers  jsonb
);
