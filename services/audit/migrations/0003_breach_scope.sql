-- Breach scope (issue 13, DPA §9): which entries concern a subprocessor or a service in a time window.
-- The entry is canonical JSON bytes; these indexes read the two fields a breach is scoped by, so a
-- query reads only the index range of that scope and window, never the whole ledger.

-- convert_from is STABLE because it depends on the database encoding, which never changes for a
-- database: IMMUTABLE is true for this use and lets an index hold the result.
CREATE FUNCTION audit_entry_field(entry bytea, field text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN convert_from(entry, 'UTF8')::jsonb ->> field;

CREATE INDEX audit_ledger_subprocessor_time
  ON audit_ledger (audit_entry_field(entry, 'subprocessor'), occurred_at)
  WHERE audit_entry_field(entry, 'subprocessor') IS NOT NULL;
CREATE INDEX audit_ledger_service_time ON audit_ledger (audit_entry_field(entry, 'service'), occurred_at);
