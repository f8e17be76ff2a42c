-- Webhook deliveries: one row per (status event, endpoint), written before the Kafka offset is
-- committed; the primary key is the derived webhook-id, so a redelivered status inserts nothing.
CREATE TABLE webhook_deliveries (
  webhook_id       text PRIMARY KEY,
  endpoint_id      text NOT NULL,
  controller_id    text NOT NULL,
  message_id       text,
  event_type       text NOT NULL,
  -- The exact JSON sent on every attempt, encrypted with the controller's data key (it may carry the
  -- recipient's number).
  body             text NOT NULL,
  state            text NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  -- Attempts made before the last resend/recovery: the retry schedule starts over from here.
  retry_from       integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  -- A worker holds a delivery while attempting it; an expired lease (crashed worker) frees it.
  lease_owner      text,
  lease_until      timestamptz,
  last_error       text,
  created_at       timestamptz NOT NULL,
  finished_at      timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (controller_id, message_id);

-- Every attempt: when, what came back, how long it took, and when the next one is due.
CREATE TABLE webhook_attempts (
  webhook_id        text NOT NULL REFERENCES webhook_deliveries (webhook_id) ON DELETE CASCADE,
  attempt           integer NOT NULL,
  started_at        timestamptz NOT NULL,
  http_status       integer,
  latency_ms        integer NOT NULL,
  error_class       text,
  response_excerpt  text,
  next_attempt_at   timestamptz,
  PRIMARY KEY (webhook_id, attempt)
);

-- Health of each endpoint as this service sees it: failing since when, disabled and why. A newer
-- endpoint revision from the control plane (the customer re-enabled or changed it) clears a disable.
CREATE TABLE webhook_endpoint_health (
  endpoint_id           text PRIMARY KEY,
  controller_id         text NOT NULL,
  state                 text NOT NULL CHECK (state IN ('healthy', 'failing', 'disabled')),
  failing_since         timestamptz,
  disabled_reason       text,
  disabled_at_revision  integer,
  updated_at            timestamptz NOT NULL
);
