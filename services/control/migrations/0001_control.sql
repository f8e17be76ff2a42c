-- Control plane tables. Only services/control reads them; other services get this state as events.
CREATE TABLE control_controllers (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  region      text NOT NULL CHECK (region IN ('us', 'eu')),
  revision    bigint NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);

-- Wrapped (KMS-encrypted) keys; a destroyed row keeps its tombstone so "shredded" differs from "never existed".
CREATE TABLE control_controller_keys (
  controller_id          text PRIMARY KEY REFERENCES control_controllers (id),
  data_key_wrapped       text,
  pseudonym_key_wrapped  text,
  destroyed_at           timestamptz,
  CHECK ((destroyed_at IS NULL) = (data_key_wrapped IS NOT NULL AND pseudonym_key_wrapped IS NOT NULL))
);

-- Published instruction versions are immutable (DPA §3: records reference the version they were processed under).
CREATE TABLE control_instructions (
  controller_id  text NOT NULL REFERENCES control_controllers (id),
  version        integer NOT NULL CHECK (version > 0),
  document       jsonb NOT NULL,
  sha256         text NOT NULL,
  published_at   timestamptz NOT NULL,
  published_by   text NOT NULL,
  PRIMARY KEY (controller_id, version)
);

CREATE FUNCTION control_refuse_instruction_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'published instructions are immutable' USING ERRCODE = 'raise_exception';
END
$$;

CREATE TRIGGER control_instructions_immutable
  BEFORE UPDATE OR DELETE ON control_instructions
  FOR EACH ROW EXECUTE FUNCTION control_refuse_instruction_change();

CREATE TABLE control_endpoints (
  id           text PRIMARY KEY,
  controller_id text NOT NULL REFERENCES control_controllers (id),
  url          text NOT NULL,
  event_types  text[] NOT NULL,
  enabled      boolean NOT NULL,
  revision     bigint NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);
CREATE INDEX control_endpoints_controller ON control_endpoints (controller_id);

-- Secrets encrypted with the controller data key; old ones live until the rotation grace period ends.
CREATE TABLE control_endpoint_secrets (
  endpoint_id  text NOT NULL REFERENCES control_endpoints (id) ON DELETE CASCADE,
  secret_id    text NOT NULL,
  ciphertext   text NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  PRIMARY KEY (endpoint_id, secret_id)
);

-- API tokens, stored as SHA-256 of the (high-entropy) token; the token itself is shown once.
CREATE TABLE control_tokens (
  id             text PRIMARY KEY,
  token_sha256   text NOT NULL UNIQUE,
  kind           text NOT NULL CHECK (kind IN ('operator', 'controller')),
  controller_id  text REFERENCES control_controllers (id),
  created_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  CHECK ((kind = 'controller') = (controller_id IS NOT NULL))
);
