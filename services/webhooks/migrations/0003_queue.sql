-- The work queue apart from the deliveries (issue 12). On a server without autovacuum, every row that
-- left the partial index webhook_deliveries_due (leased, delivered) left a stale entry behind, and
-- the lease walked all of them, and their heap pages, to find the few due rows: 40 ms per lease
-- after 100,000 deliveries, and growing. Now:
--   * webhook_queue holds one small row per pending delivery (when it is due next, and whether it is
--     a first attempt): inserted with the delivery, deleted in the statement that ends it, moved on a
--     retry. Leases and their expiry stay on webhook_deliveries (lease_owner, lease_until), as before.
--     The worker vacuums this table itself every few thousand deliveries, so its size, and the lease's
--     cost, follow the deliveries in flight, not the history.
--   * webhook_deliveries loses its index on a column that changes on every attempt: with no index on
--     state, next_attempt_at or the lease, and room left on each page, a lease and a recorded attempt
--     are HOT updates (no new index entries).
CREATE TABLE webhook_queue (
  webhook_id   text PRIMARY KEY,
  endpoint_id  text NOT NULL,
  -- A first attempt (attempts = retry_from): first attempts are leased before retries.
  first        boolean NOT NULL,
  due          timestamptz NOT NULL
);
CREATE INDEX webhook_queue_due ON webhook_queue (due);

INSERT INTO webhook_queue (webhook_id, endpoint_id, first, due)
SELECT webhook_id, endpoint_id, attempts = retry_from, next_attempt_at
  FROM webhook_deliveries WHERE state = 'pending';

DROP INDEX webhook_deliveries_due;
-- Room on each page for the new versions of its rows (pages written from now on).
ALTER TABLE webhook_deliveries SET (fillfactor = 60);
