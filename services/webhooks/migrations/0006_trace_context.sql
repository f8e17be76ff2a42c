-- The W3C traceparent of the status a delivery was made for, so that its attempts, made by whichever
-- worker leases it, continue that status's trace. Written only while tracing is on (NULL otherwise,
-- which costs nothing); an id, never personal data.
ALTER TABLE webhook_deliveries ADD COLUMN trace_context text;
