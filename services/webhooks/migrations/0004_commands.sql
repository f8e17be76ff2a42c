-- Commands the control plane sends on {cell}.webhooks.commands.v1 (resend one delivery, recover an
-- endpoint's dead ones), one row each: a redelivered command finds its row and does nothing again,
-- and the control API reads the outcome here (through this service's internal HTTP routes).
CREATE TABLE webhook_commands (
  command_id    text PRIMARY KEY,
  controller_id text NOT NULL,
  kind          text NOT NULL,
  -- done: carried out; refused: nothing was requeued, `reason` says why.
  outcome       text NOT NULL,
  requeued      integer NOT NULL,
  reason        text,
  requested_at  timestamptz NOT NULL,
  finished_at   timestamptz NOT NULL
);
