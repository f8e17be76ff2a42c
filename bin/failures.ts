// Why a command could not reach PostgreSQL or Kafka, for people: the variable that names the server,
// the address tried (never the credentials in the URL), the cause in a word, and what to do next,
// instead of a pg-pool or KafkaJS stack.
import { databaseSpec, kafkaSpec } from '@massivesms/config';

type Env = Readonly<Record<string, string | undefined>>;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

/** SQLSTATEs a server sends before a session exists, and what they mean to the person starting it. */
const SERVER_REFUSALS: Readonly<Record<string, string>> = {
  '28P01': 'password authentication failed: check the user and password in DATABASE_URL',
  '28000': 'the server does not accept this user from this host (pg_hba.conf)',
  '3D000': 'the database named in DATABASE_URL does not exist: create it, or fix the name',
  '57P03': 'the server is starting up or shutting down: try again in a moment',
  '53300': 'the server has no free connection slots (max_connections)',
};

/** The error and its causes (and an AggregateError's members), outermost first. */
function chain(error: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (e: unknown, depth: number) => {
    if (typeof e !== 'object' || e === null || depth > 8 || out.includes(e as Record<string, unknown>))
      return;
    const record = e as Record<string, unknown>;
    out.push(record);
    if (Array.isArray(record.errors)) for (const member of record.errors) visit(member, depth + 1);
    visit(record.cause, depth + 1);
  };
  visit(error, 0);
  return out;
}

/** `host:port` of a PostgreSQL URL (or the local socket), without user, password or parameters. */
export function databaseAddress(url: string): string {
  if (!URL.canParse(url)) return 'DATABASE_URL (not a URL)';
  const { hostname, port } = new URL(url);
  return hostname === '' ? 'the local socket' : `${hostname}:${port || '5432'}`;
}

/**
 * A sentence for a failure to reach PostgreSQL (DATABASE_URL) or Kafka (KAFKA_BROKERS), or undefined
 * when `error` is something else (a bug keeps its stack). `env` gives the addresses that were tried.
 */
export function describeStartFailure(error: unknown, env: Env): string | undefined {
  const errors = chain(error);
  const databaseUrl = env.DATABASE_URL?.trim() || databaseSpec.DATABASE_URL.default;
  const brokers = env.KAFKA_BROKERS?.trim() || kafkaSpec.KAFKA_BROKERS.default;
  const next = (server: string, variable: string) =>
    `Start ${server} (npm run infra:up does, for local development) or set ${variable} to a reachable server, then run the command again.`;

  if (errors.some((e) => typeof e.name === 'string' && e.name.startsWith('KafkaJS'))) {
    const code = errors.map((e) => networkCode(e)).find((c) => c !== undefined);
    const reason = code ?? String(errors[errors.length - 1]?.message ?? 'no answer');
    return `cannot connect to Kafka at ${brokers} (KAFKA_BROKERS): ${reason} — is Kafka running there? ${next('Kafka', 'KAFKA_BROKERS')}`;
  }
  const postgres = (reason: string, hint: string) =>
    `cannot connect to PostgreSQL at ${databaseAddress(databaseUrl)} (DATABASE_URL): ${reason} — ${hint}`;
  for (const e of errors) {
    if (e.code === 'DB_CONNECT_TIMEOUT')
      return postgres(
        String(e.message),
        `is PostgreSQL running and reachable? ${next('PostgreSQL', 'DATABASE_URL')}`,
      );
    if (typeof e.severity === 'string' && typeof e.code === 'string' && e.code in SERVER_REFUSALS)
      return postgres(`${e.code}`, `${SERVER_REFUSALS[e.code]}.`);
  }
  const address = databaseAddress(databaseUrl);
  for (const e of errors) {
    const code = networkCode(e);
    // A network error to the database's own host or port (pg reports the address it dialled).
    const port = e.port === undefined ? undefined : String(e.port);
    const host = typeof e.hostname === 'string' ? e.hostname : undefined;
    if (
      code !== undefined &&
      ((port !== undefined && address.endsWith(`:${port}`)) ||
        (host !== undefined && address.startsWith(`${host}:`)))
    )
      return postgres(code, `is PostgreSQL running there? ${next('PostgreSQL', 'DATABASE_URL')}`);
  }
  return undefined;
}

/** A network error code on the error itself, or in its message (KafkaJS keeps only the text). */
function networkCode(e: Record<string, unknown>): string | undefined {
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
  const match = typeof e.message === 'string' ? /\b(E[A-Z_]{4,})\b/.exec(e.message) : null;
  return match && NETWORK_CODES.has(match[1]!) ? match[1] : undefined;
}
