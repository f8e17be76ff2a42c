-- The DPA audit ledger of one cell (issue 11): every processing event once, in a gap-free sequence,
-- each entry hash-chained to the one before it. `entry` holds the exact bytes that were hashed (RFC
-- 8785 canonical JSON of the event), so a verifier never re-serialises; `leaf_hash` is the entry's
-- RFC 6962 leaf hash (the Merkle tree of signed checkpoints is built over these).
CREATE TABLE audit_ledger (
  seq            bigint PRIMARY KEY CHECK (seq > 0),
  event_id       text NOT NULL UNIQUE,
  controller_id  text,
  occurred_at    timestamptz NOT NULL,
  appended_at    timestamptz NOT NULL,
  entry          bytea NOT NULL,
  leaf_hash      bytea NOT NULL CHECK (length(leaf_hash) = 32),
  chain_hash     bytea NOT NULL CHECK (length(chain_hash) = 32)
);
CREATE INDEX audit_ledger_controller ON audit_ledger (controller_id, seq);

-- Append-only, whoever writes: UPDATE, DELETE and TRUNCATE are refused by triggers (a superuser can
-- still bypass them, which is what the chain and the signed checkpoints are there to reveal).
CREATE FUNCTION audit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_ledger is append-only: % refused', TG_OP USING ERRCODE = '42501';
END $$;
CREATE TRIGGER audit_ledger_no_change BEFORE UPDATE OR DELETE ON audit_ledger
  FOR EACH ROW EXECUTE FUNCTION audit_ledger_append_only();
CREATE TRIGGER audit_ledger_no_truncate BEFORE TRUNCATE ON audit_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION audit_ledger_append_only();

-- The role the audit service writes as (SET LOCAL ROLE in each append): INSERT and SELECT only.
DO $$
BEGIN
  BEGIN
    CREATE ROLE massivesms_audit_writer NOLOGIN; -- a cluster-wide name: another schema may have made it
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO massivesms_audit_writer', current_schema());
END $$;
GRANT SELECT, INSERT ON audit_ledger TO massivesms_audit_writer;
