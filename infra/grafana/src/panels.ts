// Shared pieces of the dashboards: the datasource and cell variables (one JSON serves both regions,
// no datasource uid is written anywhere), panel helpers with stable ids, and common rows.
import {
  CustomVariableBuilder,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  MappingType,
  RowBuilder,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanel } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

/** Grafana's reference to the datasource variable (its syntax, not a JavaScript template). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana variable syntax
export const DATASOURCE_VARIABLE = '${datasource}';
/** Every panel queries the datasource the viewer picked. */
export const DATASOURCE = { type: 'prometheus', uid: DATASOURCE_VARIABLE };
/** Label matcher of the cell the viewer picked: every expression filters on it. */
export const CELL = 'cell="$cell"';

/** A query; refIds are assigned per panel (A, B, …). */
export interface Query {
  readonly expr: string;
  readonly legend: string;
}

export const q = (expr: string, legend: string): Query => ({ expr, legend });

/** `rate(metric{cell, extra}[$__rate_interval])` summed by `by`. */
export function rate(metric: string, by: string, extra = ''): string {
  const matchers = extra ? `${CELL},${extra}` : CELL;
  return `sum by (${by}) (rate(${metric}{${matchers}}[$__rate_interval]))`;
}

/** The `quantile` of a histogram, per `by`. */
export function quantile(quantileValue: number, metric: string, by: string, extra = ''): string {
  const matchers = extra ? `${CELL},${extra}` : CELL;
  return `histogram_quantile(${quantileValue}, sum by (${by ? `${by}, ` : ''}le) (rate(${metric}_bucket{${matchers}}[$__rate_interval])))`;
}

function targets(queries: readonly Query[]) {
  return queries.map((query, i) =>
    new DataqueryBuilder()
      .expr(query.expr)
      .legendFormat(query.legend)
      .refId(String.fromCharCode(65 + i))
      .datasource(DATASOURCE),
  );
}

export interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly queries: readonly Query[];
  readonly unit?: string;
  /** Width in grid columns (24 a row); default 12. */
  readonly w?: number;
  readonly h?: number;
}

export function timeseries(spec: PanelSpec) {
  return new TimeseriesPanel()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .targets(targets(spec.queries))
    .unit(spec.unit ?? 'short')
    .span(spec.w ?? 12)
    .height(spec.h ?? 8);
}

export function stat(spec: PanelSpec) {
  return new StatPanel()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .targets(targets(spec.queries))
    .unit(spec.unit ?? 'short')
    .span(spec.w ?? 6)
    .height(spec.h ?? 4);
}

const BREAKER_STATES: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'closed', color: 'green', index: 0 },
      '1': { text: 'half open', color: 'yellow', index: 1 },
      '2': { text: 'open', color: 'red', index: 2 },
    },
  },
];

/** The carriers' breakers over time: one row per carrier, closed / half open / open. */
export function breakerTimeline(w = 24) {
  const state = (s: string) => `max by (carrier) (dispatcher_circuit_breaker_state{${CELL},state="${s}"})`;
  return new StateTimelinePanel()
    .title('Carrier circuit breakers')
    .description(
      'State of each carrier breaker (dispatcher_circuit_breaker_state): open means sends go to the failover carrier or wait.',
    )
    .datasource(DATASOURCE)
    .targets(targets([q(`2 * ${state('open')} + ${state('half_open')}`, '{{carrier}}')]))
    .mappings(BREAKER_STATES)
    .span(w)
    .height(6);
}

type Panel = ReturnType<typeof timeseries> | ReturnType<typeof stat> | ReturnType<typeof breakerTimeline>;

/** A dashboard of rows of panels, with the datasource and cell variables; ids are assigned in order. */
export function dashboard(
  uid: string,
  title: string,
  description: string,
  rows: readonly { readonly title: string; readonly panels: readonly Panel[] }[],
) {
  const builder = new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['massivesms'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly()
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      new CustomVariableBuilder('cell')
        .label('Cell')
        .values('us,eu')
        .current({ text: 'us', value: 'us', selected: true }),
    );
  let id = 1;
  for (const row of rows) {
    builder.withRow(new RowBuilder(row.title).id(id++));
    for (const panel of row.panels) builder.withPanel(panel.id(id++));
  }
  return builder.build();
}

/** RED and lag of the consumer groups whose names match `group` (a regex). */
export function consumerRows(group: string) {
  const g = `group=~"${group}"`;
  return [
    {
      title: 'Consumers (RED)',
      panels: [
        timeseries({
          title: 'Records processed',
          description: 'Records handled per second by group and topic (massivesms_consumer_records_total).',
          queries: [
            q(rate('massivesms_consumer_records_total', 'group, outcome', g), '{{group}} {{outcome}}'),
          ],
          unit: 'reqps',
          w: 8,
        }),
        timeseries({
          title: 'Batch errors and dead letters',
          description:
            'Batches whose handler threw (retried) and records sent to the dead-letter topic, per second.',
          queries: [
            q(
              rate('massivesms_consumer_batches_total', 'group', `${g},outcome="error"`),
              '{{group}} batch errors',
            ),
            q(
              rate('massivesms_consumer_dead_letters_total', 'group, code', g),
              '{{group}} dead letter {{code}}',
            ),
          ],
          unit: 'ops',
          w: 8,
        }),
        timeseries({
          title: 'Batch duration p50 / p99',
          description: 'Handler time per batch (massivesms_consumer_batch_duration_seconds).',
          queries: [
            q(quantile(0.5, 'massivesms_consumer_batch_duration_seconds', 'group', g), '{{group}} p50'),
            q(quantile(0.99, 'massivesms_consumer_batch_duration_seconds', 'group', g), '{{group}} p99'),
          ],
          unit: 's',
          w: 8,
        }),
      ],
    },
    {
      title: 'Consumer lag',
      panels: [
        timeseries({
          title: 'Lag by partition',
          description:
            'Records not yet committed, per group, topic and partition (massivesms_consumer_lag_records, read from the admin API every 10 s).',
          queries: [
            q(
              `max by (group, topic, partition) (massivesms_consumer_lag_records{${CELL},${g}})`,
              '{{group}} {{topic}}/{{partition}}',
            ),
          ],
          w: 12,
        }),
        timeseries({
          title: 'Drain time',
          description: 'Lag divided by the processing rate: how long the backlog takes at the current pace.',
          queries: [
            q(
              `sum by (group) (max by (group, topic, partition) (massivesms_consumer_lag_records{${CELL},${g}})) / clamp_min(${rate('massivesms_consumer_records_total', 'group', g)}, 0.001)`,
              '{{group}}',
            ),
          ],
          unit: 's',
          w: 12,
        }),
      ],
    },
  ];
}

/** Outbox depth and drain of the tables matching `table` (a regex). */
export function outboxRow(table: string) {
  const t = `table=~"${table}"`;
  return {
    title: 'Outbox',
    panels: [
      timeseries({
        title: 'Outbox records waiting',
        description:
          'Records waiting to be published, per table (massivesms_outbox_pending_records, from the relay).',
        queries: [q(`max by (table) (massivesms_outbox_pending_records{${CELL},${t}})`, '{{table}}')],
        w: 12,
      }),
      timeseries({
        title: 'Since the outbox was last caught up',
        description:
          'Seconds since a relay last found its table empty (massivesms_outbox_drained_timestamp_seconds); grows only while it does not drain.',
        queries: [
          q(
            `time() - max by (table) (massivesms_outbox_drained_timestamp_seconds{${CELL},${t}})`,
            '{{table}}',
          ),
        ],
        unit: 's',
        w: 12,
      }),
    ],
  };
}

/** CPU, memory and event loop of the pods of `service` (the scrape's `service` target label). */
export function processRow(service: string) {
  const s = `${CELL},service="${service}"`;
  return {
    title: 'Process (USE)',
    panels: [
      timeseries({
        title: 'CPU',
        description: 'Cores used per pod (process_cpu_seconds_total).',
        queries: [q(`sum by (pod) (rate(process_cpu_seconds_total{${s}}[$__rate_interval]))`, '{{pod}}')],
        w: 8,
      }),
      timeseries({
        title: 'Memory',
        description: 'Resident memory per pod (process_resident_memory_bytes).',
        queries: [q(`max by (pod) (process_resident_memory_bytes{${s}})`, '{{pod}}')],
        unit: 'bytes',
        w: 8,
      }),
      timeseries({
        title: 'Event loop lag p99',
        description:
          'Event loop delay p99 per pod (nodejs_eventloop_lag_p99_seconds): a busy loop delays every consumer and request.',
        queries: [q(`max by (pod) (nodejs_eventloop_lag_p99_seconds{${s}})`, '{{pod}}')],
        unit: 's',
        w: 8,
      }),
    ],
  };
}

/** RED of the HTTP routes of `service` (libs/metrics instrumentHttp). */
export function httpRow(service: string) {
  const s = `service="${service}"`;
  return {
    title: 'HTTP',
    panels: [
      timeseries({
        title: 'Requests by route and status class',
        description: 'Requests per second (massivesms_http_requests_total; probes and scrapes excluded).',
        queries: [
          q(rate('massivesms_http_requests_total', 'route, status_class', s), '{{route}} {{status_class}}'),
        ],
        unit: 'reqps',
        w: 12,
      }),
      timeseries({
        title: 'Latency p99 by route',
        description: 'massivesms_http_request_duration_seconds p99.',
        queries: [q(quantile(0.99, 'massivesms_http_request_duration_seconds', 'route', s), '{{route}}')],
        unit: 's',
        w: 12,
      }),
    ],
  };
}
