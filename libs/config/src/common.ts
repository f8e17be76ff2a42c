import { z } from 'zod';
import { databaseSslOption, databaseSslSpec, kafkaSecuritySpec } from './connections.ts';
import { type ConfigOf, defineConfig } from './spec.ts';
import { tracingSpec } from './tracing.ts';

/** Data regions; each is a cell with its own topics, database and carrier credentials. */
export const regions = ['us', 'eu'] as const;

/** pino's level names, so LOG_LEVEL is checked here rather than failing inside the logger. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6_LITERAL = /^\[[0-9A-Fa-f:.]+\]$/;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isPort(text: string, allowZero: boolean): boolean {
  if (!/^\d{1,5}$/.test(text)) {
    return false;
  }
  const port = Number(text);
  return port <= 65_535 && (allowZero || port > 0);
}

/** A `us` | `eu` region. */
export function regionSchema() {
  return z.enum(regions, { error: `must be one of: ${regions.join(', ')}` });
}

/** A TCP port to listen on, 0–65535 (0 lets the OS pick, which tests use). */
export function listenPortSchema() {
  return z
    .string()
    .refine((text) => isPort(text, true), { error: 'must be an integer from 0 to 65535' })
    .transform(Number);
}

/** A comma-separated, non-empty list of host:port entries (IPv6 as [addr]:port), trimmed. */
export function hostPortListSchema() {
  return z.string().transform((text, ctx) => {
    const entries = text.split(',').map((entry) => entry.trim());
    entries.forEach((entry, index) => {
      const colon = entry.lastIndexOf(':');
      const host = entry.slice(0, colon);
      const valid =
        colon > 0 &&
        isPort(entry.slice(colon + 1), false) &&
        (HOSTNAME.test(host) || IPV6_LITERAL.test(host));
      if (!valid) {
        // Position, not the text: a broker entry can carry SASL credentials by mistake.
        ctx.addIssue({
          code: 'custom',
          message: `entry ${index + 1} of ${entries.length} is not host:port (e.g. kafka-1:9092)`,
        });
      }
    });
    return entries;
  });
}

/** A postgres:// or postgresql:// connection URL (host may be empty for a Unix socket). */
export function postgresUrlSchema() {
  return z.string().refine(
    (text) => {
      if (!URL.canParse(text)) {
        return false;
      }
      const { protocol } = new URL(text);
      return protocol === 'postgres:' || protocol === 'postgresql:';
    },
    { error: 'must be a postgres:// or postgresql:// URL' },
  );
}

/** URL parameters that would configure TLS behind DATABASE_SSL_MODE's back (pg lets the URL win). */
const URL_SSL_PARAMETERS = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation'];

/** DATABASE_URL: a PostgreSQL URL whose TLS is set by DATABASE_SSL_MODE, not by URL parameters. */
function databaseUrlSchema() {
  return postgresUrlSchema().superRefine((text, ctx) => {
    if (!URL.canParse(text)) return;
    const given = URL_SSL_PARAMETERS.filter((name) => new URL(text).searchParams.has(name));
    if (given.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `set TLS with DATABASE_SSL_MODE and DATABASE_SSL_CA_FILE, not the URL parameter${given.length > 1 ? 's' : ''} ${given.join(', ')} (pg reads them with other meanings than libpq)`,
      });
    }
  });
}

/** Base64 (standard alphabet, padded) of exactly `bytes` random-looking bytes; returns the base64 text. */
export function base64KeySchema(bytes: number) {
  return z.string().superRefine((text, ctx) => {
    const decoded = STRICT_BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
    if (decoded === undefined || decoded.length !== bytes) {
      ctx.addIssue({
        code: 'custom',
        message: `must be base64 of exactly ${bytes} bytes (e.g. \`openssl rand -base64 ${bytes}\`)`,
      });
      return;
    }
    // Random keys have ~30 distinct byte values; "AAAA…=" or a repeated character is a placeholder.
    if (new Set(decoded).size < Math.min(16, bytes / 2)) {
      ctx.addIssue({ code: 'custom', message: 'looks like a placeholder, not random bytes' });
    }
  });
}

/** An opaque bearer token: no whitespace (a pasted trailing newline is a classic outage), at least `min` long. */
export function tokenSchema(min: number) {
  return z
    .string()
    .regex(/^\S+$/, { error: 'must not contain whitespace' })
    .min(min, { error: `must be at least ${min} characters` });
}

/**
 * A duration in whole milliseconds from `min` to `max`; with `off`, also `0`, meaning "no bound"
 * (or "the server's own setting"). At most a day: Node's timers overflow past 2^31-1 ms.
 */
export function durationMsSchema(min: number, max: number, options: { off?: boolean } = {}) {
  const range = `a whole number of milliseconds from ${min} to ${max}`;
  const error = options.off === true ? `must be 0 (off) or ${range}` : `must be ${range}`;
  return z
    .string()
    .refine((text) => /^\d{1,9}$/.test(text), { error })
    .transform(Number)
    .refine((n) => (options.off === true && n === 0) || (n >= min && n <= max), { error });
}

const DAY_MS = 86_400_000;
const PGLITE = 'Ignored by the embedded mode (PGlite: one in-process session, no network).';

/** The PostgreSQL connection variables (DATABASE_*); spread into a spec, or taken whole through commonSpec. */
export const databaseSpec = {
  DATABASE_URL: {
    schema: databaseUrlSchema(),
    default: 'postgres://postgres@127.0.0.1:5432/massivesms',
    description:
      'PostgreSQL connection URL (`postgres://` or `postgresql://`). A password in it is masked when the config is logged. TLS is set by `DATABASE_SSL_MODE`, not by `ssl*` URL parameters.',
  },
  ...databaseSslSpec,
  DATABASE_STATEMENT_TIMEOUT_MS: {
    schema: durationMsSchema(100, DAY_MS, { off: true }),
    default: '30000',
    description: `Server-side bound on one SQL statement, lock waits included (PostgreSQL \`statement_timeout\`): the server cancels it (SQLSTATE 57014) and the connection stays usable. \`0\` keeps the server's own setting (a long migration: set \`DATABASE_QUERY_TIMEOUT_MS=0\` too). ${PGLITE}`,
  },
  DATABASE_QUERY_TIMEOUT_MS: {
    schema: durationMsSchema(1_000, DAY_MS, { off: true }),
    default: '35000',
    description: `Client-side bound on waiting for a statement's answer, which ends a wait on a dead connection: the caller gets \`DB_QUERY_TIMEOUT\` and the connection is destroyed. Must exceed \`DATABASE_STATEMENT_TIMEOUT_MS\`, so a merely slow statement is cancelled by the server first; \`0\` turns it off. ${PGLITE}`,
    check: (config: Readonly<Record<string, unknown>>) => {
      const query = config.databaseQueryTimeoutMs;
      const statement = config.databaseStatementTimeoutMs;
      return typeof query === 'number' &&
        typeof statement === 'number' &&
        query > 0 &&
        statement > 0 &&
        query <= statement
        ? `must exceed DATABASE_STATEMENT_TIMEOUT_MS (${statement}), or the client gives up on a slow statement and discards a healthy connection`
        : undefined;
    },
  },
  DATABASE_CONNECT_TIMEOUT_MS: {
    schema: durationMsSchema(100, 600_000),
    default: '10000',
    description: `Bound on opening a PostgreSQL connection and on waiting for a free pooled one (\`DB_CONNECT_TIMEOUT\`). ${PGLITE}`,
  },
} as const;

/** The Kafka connection variables (brokers and their security); spread into a spec, or taken whole through commonSpec. */
export const kafkaSpec = {
  KAFKA_BROKERS: {
    schema: hostPortListSchema(),
    default: '127.0.0.1:19092',
    description: 'Comma-separated Kafka bootstrap brokers as `host:port` (IPv6 as `[addr]:port`).',
  },
  ...kafkaSecuritySpec,
} as const;

/** The variables every MassiveSMS service reads (DESIGN.md §9); spread into a service's own spec. */
export const commonSpec = defineConfig({
  CELL: {
    schema: regionSchema(),
    description:
      'Data region this process serves (`us` or `eu`). No default: a service must never guess its region; records tagged with another region are refused.',
  },
  ...kafkaSpec,
  KAFKA_SESSION_TIMEOUT_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 6_000 && n <= 300_000, { error: 'must be from 6000 to 300000' }),
    default: '30000',
    description:
      "Consumer group session timeout: how long the broker waits for a silent consumer (a killed process) before its partitions go to another member, so also how long such partitions wait. Within the broker's `group.min.session.timeout.ms`–`group.max.session.timeout.ms` (6 s–30 min by default); heartbeats every third of it, at most 3 s.",
  },
  ...databaseSpec,
  HTTP_PORT: {
    schema: listenPortSchema(),
    default: '8080',
    description:
      'Port serving `/healthz`, `/readyz` and `/metrics` (and the control and dispatcher APIs); `0` picks a free port.',
  },
  LOG_LEVEL: {
    schema: z.enum(logLevels, { error: `must be one of: ${logLevels.join(', ')}` }),
    default: 'info',
    description: `Minimum log level: ${logLevels.map((l) => `\`${l}\``).join(', ')}.`,
  },
  KMS_MASTER_KEY: {
    schema: base64KeySchema(32),
    secret: true,
    description:
      'Local KMS master key that wraps the per-controller data keys: base64 of exactly 32 random bytes (`openssl rand -base64 32`). No default, so production can never start on a development key.',
  },
  TOPIC_NAMESPACE: {
    schema: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, {
        error: 'must be lower-case letters, digits and dashes (at most 31)',
      })
      .optional(),
    description:
      'Prefix in front of the cell in every topic name (`<ns>.us.sms.requested.v1`), so tests and experiments can share a broker. Unset in production.',
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of milliseconds' })
      .transform(Number)
      .refine((n) => n >= 1_000 && n <= 300_000, { error: 'must be from 1000 to 300000' }),
    default: '10000',
    description:
      'Longest a service takes to stop after SIGTERM, then it exits 1; Kafka clients get half, then are abandoned (their records are redelivered). Keep it below the orchestrator grace period.',
  },
  ...tracingSpec,
  CONTROL_OPERATOR_TOKEN: {
    schema: tokenSchema(32).optional(),
    secret: true,
    description:
      'Bootstraps the control API operator token (at least 32 characters, no whitespace). Unset: no operator token exists.',
  },
});

/** The parsed common configuration. */
export type CommonConfig = ConfigOf<typeof commonSpec>;

/**
 * The createPgDb options (libs/db) that the DATABASE_* variables set, so every composition root
 * builds its pools the same way: `createPgDb({ ...databasePoolOptions(config), applicationName })`.
 */
export function databasePoolOptions(
  config: Pick<
    CommonConfig,
    | 'databaseUrl'
    | 'databaseSslMode'
    | 'databaseSslCaFile'
    | 'databaseStatementTimeoutMs'
    | 'databaseQueryTimeoutMs'
    | 'databaseConnectTimeoutMs'
  >,
): {
  url: string;
  ssl: false | { ca?: string };
  statementTimeoutMs: number;
  queryTimeoutMs: number;
  connectionTimeoutMs: number;
} {
  return {
    url: config.databaseUrl,
    ssl: databaseSslOption(config),
    statementTimeoutMs: config.databaseStatementTimeoutMs,
    queryTimeoutMs: config.databaseQueryTimeoutMs,
    connectionTimeoutMs: config.databaseConnectTimeoutMs,
  };
}

/** The purge job of a service that stores data about subjects (instructions' retention periods). */
export const retentionSpec = {
  RETENTION_PURGE_INTERVAL_MS: {
    schema: durationMsSchema(1_000, DAY_MS),
    default: '600000',
    description:
      "How often the service deletes what is past each controller's instruction retention (`retention.metadataDays`, `retention.contentDays`); every purge is audited as `retention.purge`.",
  },
} as const;
