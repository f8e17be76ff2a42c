-- Router tables. Only services/router reads them.

-- One row per (controller, producer message id) ever routed: a replayed or re-sent request produces
-- nothing new. `outcome` is the terminal decision (dispatched, rejected, suppressed, expired).
CREATE TABLE router_messages (
  controller_id  text NOT NULL,
  message_id     text NOT NULL,
  outcome        text NOT NULL,
  routed_at      timestamptz NOT NULL,
  PRIMARY KEY (controller_id, message_id)
);

-- Global suppression list per controller, folded from {cell}.suppressions.v1 (STOP/START at either
-- carrier, data-subject restrictions and objections). Keyed by pseudonym: no phone numbers here.
CREATE TABLE router_suppressions (
  controller_id  text NOT NULL,
  pseudonym      text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('opt_out', 'restriction', 'objection')),
  active         boolean NOT NULL,
  source         text NOT NULL,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (controller_id, pseudonym, kind)
);
