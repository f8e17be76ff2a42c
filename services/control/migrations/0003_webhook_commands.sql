-- Resend and recover commands given through the control API, each stored with the outbox record that
-- carries it to the webhooks service ({cell}.webhooks.commands.v1) and the processing event that
-- records who asked. A controller polls its command here; the outcome is the webhooks service's.
CREATE TABLE control_webhook_commands (
  command_id    text PRIMARY KEY,
  controller_id text NOT NULL REFERENCES control_controllers (id),
  kind          text NOT NULL,
  -- The delivery (resend) or endpoint (recover) it concerns.
  target        text NOT NULL,
  requested_by  text NOT NULL,
  requested_at  timestamptz NOT NULL
);
