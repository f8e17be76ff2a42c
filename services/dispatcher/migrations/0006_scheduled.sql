-- Messages held for quiet hours (`sendAfter` in the future): parked here, out of the partition's
-- way, and dispatched by the scheduler when their window opens. The record is kept as the router
-- wrote it (number and body encrypted). `taken_until` lets several dispatchers share the table.
CREATE TABLE dispatcher_scheduled (
  controller_id  text NOT NULL,
  message_id     text NOT NULL,
  send_after     timestamptz NOT NULL,
  record         jsonb NOT NULL,
  taken_until    timestamptz,
  PRIMARY KEY (controller_id, message_id)
);
CREATE INDEX dispatcher_scheduled_due ON dispatcher_scheduled (send_after);
