-- The router's outputs (dispatch records, statuses, processing events, rejections) are written in
-- the transaction that claims their request; the outbox relay (libs/outbox) publishes them and
-- deletes them once the broker acknowledged. A decision is thus made once: a replayed request finds
-- its claim and produces nothing new, whatever the clock says by then.
CREATE TABLE router_outbox (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic    text NOT NULL,
  key      text,
  value    bytea,
  headers  jsonb
);
