-- The outbox holds one row per statement that wrote events, not one per record (libs/outbox): its
-- records are frames back to back in `records` (version byte; topic; key, value or -1 for null;
-- header count or -1, then name and value; int32 lengths, big-endian), `count` of them. Rows
-- written before the upgrade become one-record rows of the new shape, in their order.
CREATE TABLE webhooks_outbox_next (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  records  bytea NOT NULL,
  count    int NOT NULL CONSTRAINT webhooks_outbox_count_check CHECK (count > 0)
);

INSERT INTO webhooks_outbox_next (records, count)
SELECT '\x01'::bytea
       || int4send(octet_length(c.topic)) || c.topic
       || coalesce(int4send(octet_length(c.key)) || c.key, int4send(-1))
       || coalesce(int4send(octet_length(o.value)) || o.value, int4send(-1))
       || coalesce(int4send(h.n) || h.pairs, int4send(-1)),
       1
  FROM webhooks_outbox o
 CROSS JOIN LATERAL (SELECT convert_to(o.topic, 'UTF8') AS topic, convert_to(o.key, 'UTF8') AS key) c
  LEFT JOIN LATERAL (
        SELECT count(*)::int AS n,
               coalesce(string_agg(int4send(octet_length(convert_to(e.name, 'UTF8'))) || convert_to(e.name, 'UTF8')
                                   || int4send(octet_length(convert_to(e.value, 'UTF8'))) || convert_to(e.value, 'UTF8'),
                                   ''::bytea ORDER BY e.ord), ''::bytea) AS pairs
          FROM jsonb_each_text(o.headers) WITH ORDINALITY AS e(name, value, ord)) h ON o.headers IS NOT NULL
 ORDER BY o.id;

DROP TABLE webhooks_outbox;
ALTER TABLE webhooks_outbox_next RENAME TO webhooks_outbox;
ALTER INDEX webhooks_outbox_next_pkey RENAME TO webhooks_outbox_pkey;
ALTER SEQUENCE webhooks_outbox_next_id_seq RENAME TO webhooks_outbox_id_seq;
