-- Terminations (DPA §11). A controller's termination is filed once; during the grace period the
-- controller downloads its return bundle; when the grace ends every service deletes what it holds
-- about the controller (privacy.requests.v1, type `termination`) and answers on privacy.acks.v1;
-- once all have, control deletes its own copies, destroys the controller's data key and stores the
-- deletion certificate, whose SHA-256 the audit ledger records.
CREATE TABLE control_terminations (
  controller_id        text PRIMARY KEY REFERENCES control_controllers (id),
  -- The id of the deletion command the services acknowledge (a new one if a failed deletion is retried).
  request_id           text NOT NULL UNIQUE,
  status               text NOT NULL CHECK (status IN ('grace', 'deleting', 'completed', 'failed')),
  requested_by         text NOT NULL,
  requested_at         timestamptz NOT NULL,
  delete_after         timestamptz NOT NULL,
  -- Services that must acknowledge the deletion (CONTROL_DSR_SERVICES when it started).
  expected             text[] NOT NULL,
  deletion_started_at  timestamptz,
  completed_at         timestamptz,
  certificate          jsonb,
  certificate_sha256   text
);
CREATE INDEX control_terminations_due ON control_terminations (delete_after) WHERE status = 'grace';

CREATE TABLE control_termination_acks (
  request_id   text NOT NULL,
  service      text NOT NULL,
  outcome      text NOT NULL CHECK (outcome IN ('done', 'failed')),
  erased       jsonb,
  retained     text[],
  reason       text,
  received_at  timestamptz NOT NULL,
  PRIMARY KEY (request_id, service)
);

-- A terminated controller's data key is destroyed while its pseudonym key is kept: the opt-outs that
-- survive termination (DPA §11) stay matchable to a number (a complaint can still be checked).
ALTER TABLE control_controller_keys DROP CONSTRAINT control_controller_keys_check;
ALTER TABLE control_controller_keys ADD CONSTRAINT control_controller_keys_destroyed CHECK (
  (destroyed_at IS NULL) = (data_key_wrapped IS NOT NULL)
  AND (destroyed_at IS NOT NULL OR pseudonym_key_wrapped IS NOT NULL)
);
