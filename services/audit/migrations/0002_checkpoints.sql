-- Signed checkpoints over the ledger (issue 11): the Merkle tree's complete subtrees, the signed tree
-- heads, and the outbox that publishes those heads to {cell}.audit.checkpoints.v1.

-- The hash of every complete subtree above the leaves: node (level, idx) covers ledger entries
-- [idx·2^level, (idx+1)·2^level) by leaf index (seq − 1). Leaves (level 0) are audit_ledger.leaf_hash.
-- Written in the transaction that appends the leaf completing them; never changed afterwards.
CREATE TABLE audit_tree_nodes (
  level  smallint NOT NULL CHECK (level > 0 AND level < 63),
  idx    bigint NOT NULL CHECK (idx >= 0),
  hash   bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);

-- Signed tree heads: the C2SP checkpoint note over the first tree_size entries, as signed.
CREATE TABLE audit_checkpoints (
  tree_size     bigint PRIMARY KEY CHECK (tree_size > 0),
  root_hash     bytea NOT NULL CHECK (length(root_hash) = 32),
  note          text NOT NULL,
  verifier_key  text NOT NULL,
  signed_at     timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION audit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
END $$;
CREATE TRIGGER audit_tree_nodes_no_change BEFORE UPDATE OR DELETE ON audit_tree_nodes
  FOR EACH ROW EXECUTE FUNCTION audit_ledger_append_only();
CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION audit_ledger_append_only();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_ledger_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_ledger_append_only();

-- The transactional outbox (libs/outbox): a checkpoint and its Kafka record commit together.
CREATE TABLE audit_outbox (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic    text NOT NULL,
  key      text,
  value    bytea,
  headers  jsonb
);

GRANT SELECT, INSERT ON audit_tree_nodes, audit_checkpoints TO massivesms_audit_writer;
GRANT INSERT ON audit_outbox TO massivesms_audit_writer;
