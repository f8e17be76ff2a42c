-- Breach scope (issue 13, DPA §9): which entries concern a subprocessor or a service in a time window.
-- Each entry's `service` and `subprocessor` (copied from its event at append, like controller_id and
-- occurred_at) with the time, indexed, so a query reads only the index range of its scope and window.
-- Adding nullable columns rewrites nothing (no UPDATE runs: the ledger stays append-only); rows
-- appended before this migration keep NULL there and are found through audit_ledger_unscoped_time,
-- which no later row enters (every event has a service), so appends pay for two small indexes only.
ALTER TABLE audit_ledger ADD COLUMN service text, ADD COLUMN subprocessor text;

CREATE INDEX audit_ledger_service_time ON audit_ledger (service, occurred_at);
CREATE INDEX audit_ledger_subprocessor_time ON audit_ledger (subprocessor, occurred_at)
  WHERE subprocessor IS NOT NULL;
CREATE INDEX audit_ledger_unscoped_time ON audit_ledger (occurred_at) WHERE service IS NULL;
