-- The purpose the message is processed for (from the router's record), kept with the claim so an
-- attempt confirmed only by a receipt (its own outcome was never stored) is audited like any other.
ALTER TABLE dispatcher_messages ADD COLUMN purpose text;

-- A message no carrier can take now (every carrier its instruction allows has an open breaker, or
-- refused it with no failover) is parked here instead of holding its partition: `waiting_for`
-- names those carriers, and the scheduler takes it again once one of them is not open (NULL:
-- a quiet-hours hold, due at `send_after`).
ALTER TABLE dispatcher_scheduled ADD COLUMN waiting_for text[];
