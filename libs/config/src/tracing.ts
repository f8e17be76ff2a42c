// The standard OpenTelemetry variables the tracing bootstrap (libs/telemetry register.ts) reads,
// checked here too so a typo fails at start with the variable's name (exit 2), and documented in
// docs/configuration.md. The SDK itself reads them; tracing is off unless an exporter is configured.
import { z } from 'zod';

const httpUrl = (name: string) =>
  z
    .string()
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '';
        } catch {
          return false;
        }
      },
      { error: `${name} must be an http(s) URL without a query` },
    )
    .optional();

/** OTEL_* variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). */
export const tracingSpec = {
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    schema: httpUrl('the OTLP endpoint'),
    description:
      'OTLP collector base URL (`http://otel-collector.observability:4318`); traces go to `<url>/v1/traces`. Setting it (or `OTEL_TRACES_EXPORTER`) turns tracing on; unset, no span is made and the SDK is not loaded.',
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {
    schema: httpUrl('the OTLP traces endpoint'),
    description:
      'Full OTLP traces URL, when it is not `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`; also turns tracing on.',
  },
  OTEL_EXPORTER_OTLP_PROTOCOL: {
    schema: z
      .enum(['http/protobuf', 'http/json', 'grpc'], { error: 'must be http/protobuf, http/json or grpc' })
      .optional(),
    description: 'OTLP encoding: `http/protobuf` (the SDK default), `http/json` or `grpc`.',
  },
  OTEL_TRACES_EXPORTER: {
    schema: z.enum(['otlp', 'console', 'none'], { error: 'must be otlp, console or none' }).optional(),
    description:
      '`otlp` (default once an endpoint is set), `console` (spans on stdout, for debugging) or `none` (tracing off whatever else is set).',
  },
  OTEL_SDK_DISABLED: {
    schema: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
    description: '`true` turns tracing off whatever else is set (unit tests, an emergency).',
  },
  OTEL_SERVICE_NAME: {
    schema: z.string().max(100).optional(),
    description: '`service.name` of the spans; default `massivesms-<service>`.',
  },
  OTEL_RESOURCE_ATTRIBUTES: {
    schema: z.string().max(2000).optional(),
    description:
      'Extra resource attributes, `k=v` comma-separated: `service.namespace=massivesms,deployment.environment.name=prod,cloud.region=…`. Never personal data.',
  },
  OTEL_TRACES_SAMPLER: {
    schema: z
      .enum(
        [
          'always_on',
          'always_off',
          'traceidratio',
          'parentbased_always_on',
          'parentbased_always_off',
          'parentbased_traceidratio',
        ],
        { error: 'must be a standard sampler name (parentbased_traceidratio, always_on, …)' },
      )
      .optional(),
    description:
      'Sampler (SDK default `parentbased_always_on`); `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG` keeps a fraction of the traces, and a sampled request stays sampled through every hop.',
  },
  OTEL_TRACES_SAMPLER_ARG: {
    schema: z
      .string()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, { error: 'must be a ratio from 0 to 1' })
      .optional(),
    description: 'The sampler ratio (0–1) for `traceidratio` samplers.',
  },
  OTEL_BSP_SCHEDULE_DELAY: {
    schema: z.string().regex(/^\d+$/, { error: 'must be a whole number of milliseconds' }).optional(),
    description:
      'Milliseconds between span exports (SDK default 5000). Spans still buffered at shutdown are flushed within `SHUTDOWN_TIMEOUT_MS`.',
  },
} as const;
