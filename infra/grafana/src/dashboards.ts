// The dashboards: one overview of the whole pipeline, one per service, one for privacy and audit.
// `npm run dashboards` writes them to infra/grafana/dashboards/*.json (committed); the drift test
// (infra/test/dashboards.test.ts) regenerates them and checks every metric they query exists.
import {
  breakerTimeline,
  CELL,
  consumerRows,
  dashboard,
  httpRow,
  outboxRow,
  processRow,
  q,
  quantile,
  rate,
  stat,
  timeseries,
} from './panels.ts';

const webhookSuccess = `sum(rate(webhooks_attempts_total{${CELL},outcome="delivered"}[$__rate_interval])) / clamp_min(sum(rate(webhooks_attempts_total{${CELL}}[$__rate_interval])), 1e-9)`;
const carrierRows = () => [
  {
    title: 'Carriers',
    panels: [
      timeseries({
        title: 'Sends by carrier and class',
        description:
          'Carrier send calls per second (dispatcher_carrier_sends_total): accepted, not_accepted (failover or retry), ambiguous, permanent, error.',
        queries: [q(rate('dispatcher_carrier_sends_total', 'carrier, class'), '{{carrier}} {{class}}')],
        unit: 'reqps',
        w: 8,
      }),
      timeseries({
        title: 'Failovers',
        description:
          'Messages moved to their failover carrier per second (dispatcher_carrier_failovers_total).',
        queries: [
          q(
            rate('dispatcher_carrier_failovers_total', 'carrier, to_carrier'),
            '{{carrier}} → {{to_carrier}}',
          ),
        ],
        unit: 'ops',
        w: 8,
      }),
      timeseries({
        title: 'Carrier latency p99',
        description: 'One send call, by carrier (dispatcher_carrier_send_duration_seconds).',
        queries: [q(quantile(0.99, 'dispatcher_carrier_send_duration_seconds', 'carrier'), '{{carrier}}')],
        unit: 's',
        w: 8,
      }),
      breakerTimeline(),
    ],
  },
];

const overview = dashboard(
  'massivesms-overview',
  'MassiveSMS / Overview',
  'The whole pipeline of one cell: requests in, outcomes, errors, lag, carriers, webhooks, outboxes and dead letters.',
  [
    {
      title: 'Pipeline',
      panels: [
        stat({
          title: 'Requests in',
          description: 'Requests the router took per second.',
          queries: [q(`sum(rate(router_requests_total{${CELL}}[$__rate_interval]))`, 'requests')],
          unit: 'reqps',
        }),
        stat({
          title: 'Accepted by carriers',
          description: 'Carrier sends accepted per second.',
          queries: [
            q(
              `sum(rate(dispatcher_carrier_sends_total{${CELL},class="accepted"}[$__rate_interval]))`,
              'sends',
            ),
          ],
          unit: 'reqps',
        }),
        stat({
          title: 'Webhook success',
          description: 'Share of webhook delivery attempts answered 2xx.',
          queries: [q(webhookSuccess, 'success')],
          unit: 'percentunit',
        }),
        stat({
          title: 'Consumer error ratio',
          description: 'Share of batches whose handler threw, all consumers.',
          queries: [
            q(
              `sum(rate(massivesms_consumer_batches_total{${CELL},outcome="error"}[$__rate_interval])) / clamp_min(sum(rate(massivesms_consumer_batches_total{${CELL}}[$__rate_interval])), 1e-9)`,
              'errors',
            ),
          ],
          unit: 'percentunit',
        }),
        timeseries({
          title: 'Records processed by topic',
          description: 'Throughput of every hop (massivesms_consumer_records_total, processed).',
          queries: [
            q(rate('massivesms_consumer_records_total', 'topic', 'outcome="processed"'), '{{topic}}'),
          ],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Request outcomes',
          description: 'What the router made of each request (router_requests_total).',
          queries: [q(rate('router_requests_total', 'outcome'), '{{outcome}}')],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Batch duration p99 by group',
          description: 'Handler time per batch, every consumer group.',
          queries: [q(quantile(0.99, 'massivesms_consumer_batch_duration_seconds', 'group'), '{{group}}')],
          unit: 's',
          w: 8,
        }),
        timeseries({
          title: 'Consumer lag by group',
          description: 'Records not yet committed, summed over partitions (massivesms_consumer_lag_records).',
          queries: [
            q(
              `sum by (group) (max by (group, topic, partition) (massivesms_consumer_lag_records{${CELL}}))`,
              '{{group}}',
            ),
          ],
          w: 24,
        }),
      ],
    },
    ...carrierRows(),
    {
      title: 'Webhooks',
      panels: [
        timeseries({
          title: 'Webhook success ratio',
          description: 'Share of attempts delivered (webhooks_attempts_total).',
          queries: [q(webhookSuccess, 'success')],
          unit: 'percentunit',
          w: 8,
        }),
        timeseries({
          title: 'Delivery lag p95',
          description:
            'From a delivery being stored to its last attempt, by outcome (webhooks_delivery_lag_seconds).',
          queries: [q(quantile(0.95, 'webhooks_delivery_lag_seconds', 'outcome'), '{{outcome}}')],
          unit: 's',
          w: 8,
        }),
        timeseries({
          title: 'Pending and dead deliveries; disabled endpoints',
          description: 'webhooks_queue_depth by state and webhooks_endpoints_disabled.',
          queries: [
            q(`max by (state) (webhooks_queue_depth{${CELL}})`, '{{state}}'),
            q(`max(webhooks_endpoints_disabled{${CELL}})`, 'disabled endpoints'),
          ],
          w: 8,
        }),
      ],
    },
    {
      title: 'Dead letters and outboxes',
      panels: [
        timeseries({
          title: 'Dead letters by group and code',
          description:
            'Records sent to the dead-letter topic in the last hour (massivesms_consumer_dead_letters_total).',
          queries: [
            q(
              `sum by (group, code) (increase(massivesms_consumer_dead_letters_total{${CELL}}[1h]))`,
              '{{group}} {{code}}',
            ),
          ],
          w: 12,
        }),
        timeseries({
          title: 'Outbox records waiting',
          description: 'Records waiting in each service outbox (massivesms_outbox_pending_records).',
          queries: [q(`max by (table) (massivesms_outbox_pending_records{${CELL}})`, '{{table}}')],
          w: 12,
        }),
      ],
    },
  ],
);

const router = dashboard(
  'massivesms-router',
  'MassiveSMS / Router',
  'Router: consumes sms.requested.v1 and suppressions.v1, writes sms.dispatch.v1 and statuses through router_outbox.',
  [
    {
      title: 'Routing',
      panels: [
        timeseries({
          title: 'Requests by outcome',
          description: 'router_requests_total by outcome.',
          queries: [q(rate('router_requests_total', 'outcome'), '{{outcome}}')],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Rejections by code',
          description: 'router_requests_total{outcome="rejected"} by code.',
          queries: [q(rate('router_requests_total', 'code', 'outcome="rejected"'), '{{code}}')],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Batch duration p50 / p99',
          description: 'router_batch_duration_seconds.',
          queries: [
            q(quantile(0.5, 'router_batch_duration_seconds', ''), 'p50'),
            q(quantile(0.99, 'router_batch_duration_seconds', ''), 'p99'),
          ],
          unit: 's',
          w: 8,
        }),
      ],
    },
    ...consumerRows('router\\\\..*'),
    outboxRow('router_outbox'),
    processRow('router'),
  ],
);

const dispatcher = dashboard(
  'massivesms-dispatcher',
  'MassiveSMS / Dispatcher',
  'Dispatcher: consumes sms.dispatch.v1, calls the carriers, takes their receipts, writes statuses through dispatcher_outbox.',
  [
    ...carrierRows(),
    {
      title: 'Receipts and parked messages',
      panels: [
        timeseries({
          title: 'Receipts at the ingress',
          description:
            'dispatcher_receipts_received_total by carrier and result (rejected_signature: a forged or stale callback).',
          queries: [
            q(rate('dispatcher_receipts_received_total', 'carrier, result'), '{{carrier}} {{result}}'),
          ],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Receipts applied',
          description: 'dispatcher_receipts_total by carrier and result.',
          queries: [q(rate('dispatcher_receipts_total', 'carrier, result'), '{{carrier}} {{result}}')],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Parked messages',
          description:
            'dispatcher_parked_messages by reason (carrier: waiting for a carrier the instruction allows).',
          queries: [q(`max by (reason) (dispatcher_parked_messages{${CELL}})`, '{{reason}}')],
          w: 8,
        }),
        timeseries({
          title: 'Reconciliation lookups',
          description:
            'Status lookups asked of the carriers for messages without a terminal status (dispatcher_carrier_lookups_total).',
          queries: [
            q(rate('dispatcher_carrier_lookups_total', 'carrier, outcome'), '{{carrier}} {{outcome}}'),
          ],
          unit: 'reqps',
          w: 24,
          h: 6,
        }),
      ],
    },
    httpRow('dispatcher'),
    ...consumerRows('dispatcher\\\\..*'),
    outboxRow('dispatcher_outbox'),
    processRow('dispatcher'),
  ],
);

const webhooks = dashboard(
  'massivesms-webhooks',
  'MassiveSMS / Webhooks',
  'Webhooks: consumes sms.status.v1, stores deliveries and sends them to customer endpoints (no endpoint is ever a label).',
  [
    {
      title: 'Deliveries',
      panels: [
        timeseries({
          title: 'Attempts by outcome and error class',
          description: 'webhooks_attempts_total: delivered, retry, dead.',
          queries: [
            q(rate('webhooks_attempts_total', 'outcome, error_class'), '{{outcome}} {{error_class}}'),
          ],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Attempt duration p99',
          description: 'webhooks_attempt_duration_seconds.',
          queries: [q(quantile(0.99, 'webhooks_attempt_duration_seconds', ''), 'p99')],
          unit: 's',
          w: 8,
        }),
        timeseries({
          title: 'Delivery lag p50 / p95 by outcome',
          description: 'webhooks_delivery_lag_seconds.',
          queries: [
            q(quantile(0.5, 'webhooks_delivery_lag_seconds', 'outcome'), '{{outcome}} p50'),
            q(quantile(0.95, 'webhooks_delivery_lag_seconds', 'outcome'), '{{outcome}} p95'),
          ],
          unit: 's',
          w: 8,
        }),
        timeseries({
          title: 'Queue by state',
          description: 'webhooks_queue_depth (pending, dead).',
          queries: [q(`max by (state) (webhooks_queue_depth{${CELL}})`, '{{state}}')],
          w: 8,
        }),
        stat({
          title: 'Disabled endpoints',
          description:
            'webhooks_endpoints_disabled: endpoints this service disabled, waiting for the customer.',
          queries: [q(`max(webhooks_endpoints_disabled{${CELL}})`, 'disabled')],
          w: 8,
          h: 8,
        }),
        timeseries({
          title: 'Stored deliveries and intake dead letters',
          description: 'webhooks_deliveries_stored_total and webhooks_intake_dead_letters_total by code.',
          queries: [
            q(`sum(rate(webhooks_deliveries_stored_total{${CELL}}[$__rate_interval]))`, 'stored'),
            q(rate('webhooks_intake_dead_letters_total', 'code'), 'dead letter {{code}}'),
          ],
          unit: 'ops',
          w: 8,
        }),
      ],
    },
    httpRow('webhooks'),
    ...consumerRows('webhooks\\\\..*'),
    outboxRow('webhooks_outbox'),
    processRow('webhooks'),
  ],
);

const control = dashboard(
  'massivesms-control',
  'MassiveSMS / Control',
  'Control plane API: controllers, instructions, endpoints, privacy requests (and their acknowledgements, consumed); events through control_outbox.',
  [
    {
      title: 'API',
      panels: [
        timeseries({
          title: 'Requests by route and status',
          description: 'control_http_requests_total.',
          queries: [q(rate('control_http_requests_total', 'route, status'), '{{route}} {{status}}')],
          unit: 'reqps',
          w: 12,
        }),
        timeseries({
          title: 'Latency p99 by route',
          description: 'control_http_request_duration_seconds.',
          queries: [q(quantile(0.99, 'control_http_request_duration_seconds', 'route'), '{{route}}')],
          unit: 's',
          w: 12,
        }),
        timeseries({
          title: 'Events produced',
          description: 'massivesms_producer_records_total by topic and outcome (the outbox relay).',
          queries: [
            q(
              rate('massivesms_producer_records_total', 'topic, outcome', 'service="control"'),
              '{{topic}} {{outcome}}',
            ),
          ],
          unit: 'ops',
          w: 12,
        }),
        timeseries({
          title: 'Calls to the webhooks and audit services',
          description:
            'control_internal_request_duration_seconds: p99 and errors (no answer or 5xx) per second, by service.',
          queries: [
            q(quantile(0.99, 'control_internal_request_duration_seconds', 'service'), '{{service}} p99 (s)'),
            q(
              rate('control_internal_request_duration_seconds_count', 'service', 'outcome="error"'),
              '{{service}} errors/s',
            ),
          ],
          w: 12,
        }),
      ],
    },
    ...consumerRows('control\\\\..*'),
    outboxRow('control_outbox'),
    processRow('control'),
  ],
);

const audit = dashboard(
  'massivesms-audit',
  'MassiveSMS / Privacy and audit',
  'The audit ledger (append lag, checkpoints, self-verification), the processing events feeding it, and dead letters that may hold records of processing.',
  [
    {
      title: 'Ledger',
      panels: [
        stat({
          title: 'Ledger verification failures (24 h)',
          description:
            'audit_ledger_verifications_total{outcome="failed"}: the ledger does not verify. Anything but 0 is an incident (docs/runbooks/audit-ledger-verify-failed.md).',
          queries: [
            q(`sum(increase(audit_ledger_verifications_total{${CELL},outcome="failed"}[24h]))`, 'failures'),
          ],
        }),
        stat({
          title: 'Since the last good verification',
          description: 'time() - audit_ledger_verified_timestamp_seconds.',
          queries: [q(`time() - max(audit_ledger_verified_timestamp_seconds{${CELL}})`, 'age')],
          unit: 's',
        }),
        stat({
          title: 'Since the last checkpoint',
          description:
            'time() - audit_checkpoint_timestamp_seconds: exports prove entries up to the last signed checkpoint.',
          queries: [q(`time() - max(audit_checkpoint_timestamp_seconds{${CELL}})`, 'age')],
          unit: 's',
        }),
        stat({
          title: 'Append lag',
          description: 'audit_append_lag_seconds: how far the ledger trails the pipeline.',
          queries: [q(`max(audit_append_lag_seconds{${CELL}})`, 'lag')],
          unit: 's',
        }),
        timeseries({
          title: 'Events appended',
          description: 'audit_events_appended_total (a republished event is not appended twice).',
          queries: [q(`sum(rate(audit_events_appended_total{${CELL}}[$__rate_interval]))`, 'appended')],
          unit: 'ops',
          w: 8,
        }),
        timeseries({
          title: 'Checkpoint tree size and verified head',
          description:
            'audit_checkpoint_tree_size and audit_ledger_verified_seq: the verified head follows the signed one.',
          queries: [
            q(`max(audit_checkpoint_tree_size{${CELL}})`, 'signed'),
            q(`max(audit_ledger_verified_seq{${CELL}})`, 'verified'),
          ],
          w: 8,
        }),
        timeseries({
          title: 'Verifications by outcome',
          description: 'audit_ledger_verifications_total: ok, failed, error (could not run).',
          queries: [
            q(`sum by (outcome) (increase(audit_ledger_verifications_total{${CELL}}[5m]))`, '{{outcome}}'),
          ],
          w: 8,
        }),
      ],
    },
    {
      title: 'Processing events',
      panels: [
        timeseries({
          title: 'Processing events produced by topic',
          description: 'massivesms_producer_records_total for audit.processing.v1, every service.',
          queries: [
            q(
              rate('massivesms_producer_records_total', 'outcome', 'topic=~".*audit\\\\.processing\\\\.v1"'),
              '{{outcome}}',
            ),
          ],
          unit: 'ops',
          w: 12,
        }),
        timeseries({
          title: 'Dead letters (all services)',
          description:
            'Records dead-lettered in the last hour by group and code: each is a record of processing to replay.',
          queries: [
            q(
              `sum by (group, code) (increase(massivesms_consumer_dead_letters_total{${CELL}}[1h]))`,
              '{{group}} {{code}}',
            ),
          ],
          w: 12,
        }),
      ],
    },
    httpRow('audit'),
    ...consumerRows('audit\\\\..*'),
    outboxRow('audit_outbox'),
    processRow('audit'),
  ],
);

/** Every dashboard by file name (without `.json`). */
export const dashboards = { overview, router, dispatcher, webhooks, control, audit } as const;
