-- Data-subject requests (DPA §8). The number is stored only encrypted (controller data key, record
-- = request id, field `subject`) and is found again by its pseudonym, the keyed hash every service
-- uses. An erasure clears the ciphertexts of every earlier request of the subject: what is left is
-- pseudonymous (which request, of what type, when, answered how), the record of having answered.
CREATE TABLE control_subject_requests (
  id                 text PRIMARY KEY,
  controller_id      text NOT NULL REFERENCES control_controllers (id),
  type               text NOT NULL CHECK (type IN ('access', 'rectification', 'erasure', 'restriction', 'objection')),
  subject_pseudonym  text NOT NULL,
  subject            text,
  status             text NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
  -- Services that must acknowledge before the request completes (CONTROL_DSR_SERVICES when filed).
  expected           text[] NOT NULL,
  result             jsonb,
  requested_by       text NOT NULL,
  requested_at       timestamptz NOT NULL,
  completed_at       timestamptz,
  erased_at          timestamptz
);
CREATE INDEX control_subject_requests_subject ON control_subject_requests (controller_id, subject_pseudonym);

-- One acknowledgement per (request, service); a repeated one is ignored. `export` is the service's
-- part of an access export, still sealed under the controller data key as the service sent it.
CREATE TABLE control_subject_request_acks (
  request_id   text NOT NULL REFERENCES control_subject_requests (id),
  service      text NOT NULL,
  outcome      text NOT NULL CHECK (outcome IN ('done', 'failed')),
  export       text,
  erased       jsonb,
  retained     text[],
  reason       text,
  received_at  timestamptz NOT NULL,
  PRIMARY KEY (request_id, service)
);
