-- State events (controllers.v1, endpoints.v1) and processing events, written in the transaction that
-- makes the change; the outbox relay (libs/outbox) publishes them and deletes them once the broker
-- acknowledged.
CREATE TABLE control_outbox (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic    text NOT NULL,
  key      text,
  value    bytea,
  headers  jsonb
);
