// `massivesms --help`, `massivesms help <command>` and each command's `--help`: the usage, the options
// and the environment variables it reads, rendered from the same configuration definitions that
// validate them (and docs/configuration.md), so the help cannot drift from what the command reads.
import { type ConfigSpec, renderConfigHelp } from '@massivesms/config';

export const USAGE = `usage: massivesms <command> [options]      (massivesms <command> --help: its options and environment)

  control|router|dispatcher|webhooks|audit   run one service of a cell (configured by environment)
  audit verify [--cell C] [--from SEQ]       check the cell's audit ledger (chain, no gaps, signed checkpoints)
  audit verify-export BUNDLE [--key K]       check a controller's audit export offline (no database)
  breach-scope --subprocessor S --from --to  scope a breach per controller from the audit ledger; draft notice
  migrate                                    apply every service's database migrations
  deadletter list|replay [--cell C] ...      list dead letters; replay them after a fix (docs/dead-letters.md)
  simulate telnyx|twilio|receiver --port N   run a carrier or webhook-receiver simulator
  demo [--messages N] [--json]               the embedded demo (npm start; default 500 messages)
  help <command>                             the same as massivesms <command> --help

Configuration: docs/configuration.md. Local Kafka and PostgreSQL for development: npm run infra:up.`;

/** `--help` or `-h`. */
export function isHelp(arg: string): boolean {
  return arg === '--help' || arg === '-h';
}

/** The environment part of a command's help: every variable the specs define, with its default. */
export function environmentHelp(specs: readonly ConfigSpec[]): string {
  if (specs.length === 0) return 'Environment: none (options only).';
  return `Environment (also in docs/configuration.md; an empty value counts as unset):\n${renderConfigHelp(specs)}`;
}

const RUNS =
  'Runs until SIGTERM or SIGINT, then drains within SHUTDOWN_TIMEOUT_MS. Configured by environment only; it\n' +
  '  applies its own database migrations at start. Needs PostgreSQL (DATABASE_URL) and Kafka (KAFKA_BROKERS);\n' +
  '  for local development, npm run infra:up starts both. /healthz, /readyz and /metrics on HTTP_PORT.';

/** What each service does, in one paragraph, and the module holding its configuration definition. */
const services = {
  control: {
    what: 'The control API of a cell: controllers, instruction documents, webhook endpoints and their\n  signing secrets, scoped tokens, delivery recovery (HTTP on HTTP_PORT, its description at /openapi.json).',
    spec: async () => (await import('@massivesms/control/config')).controlSpec,
  },
  router: {
    what: "Reads the cell's SMS requests, checks each against its controller's instructions, consent and the\n  suppression list, and routes it to a carrier, or rejects it with a stable code.",
    spec: async () => (await import('@massivesms/router/config')).routerSpec,
  },
  dispatcher: {
    what: "Sends routed messages to the cell's carriers (Telnyx, Twilio) with rate limits, circuit breakers and\n  failover, and takes their delivery receipts on HTTP_PORT.",
    spec: async () => (await import('@massivesms/dispatcher/config')).dispatcherSpec,
  },
  webhooks: {
    what: "Delivers message status events to the controllers' webhook endpoints, signed as Standard Webhooks,\n  with retries, per-endpoint limits and SSRF checks at delivery time.",
    spec: async () => (await import('@massivesms/webhooks/config')).webhooksSpec,
  },
  audit: {
    what: "Appends the cell's processing events to its tamper-evident audit ledger and signs checkpoints.\n  Also: massivesms audit verify | verify-export (massivesms audit verify --help).",
    spec: async () => (await import('@massivesms/audit/config')).auditSpec,
  },
} as const;

/**
 * The full help of a command (`router`, `audit verify`, `deadletter`, `simulate receiver`, …); throws
 * UnknownCommandError for a command that does not exist. Loads only definitions: starts nothing.
 */
export async function commandHelp(name: string): Promise<string> {
  const [head = '', sub] = name.split(' ');
  if (head in services && sub === undefined) {
    const service = services[head as keyof typeof services];
    return `usage: massivesms ${head} [--help]\n\n  ${service.what}\n  ${RUNS}\n\n${environmentHelp([await service.spec()])}`;
  }
  if (name === 'migrate') {
    const { migrateSpec } = await import('./specs.ts');
    return `usage: massivesms migrate [--help]\n\n  Applies every service's pending database migrations to DATABASE_URL, each service's in its own\n  schema history, and prints what it applied (a JSON log line per service). Safe to run again.\n\n${environmentHelp([migrateSpec])}`;
  }
  if (head === 'audit' && (sub === 'verify' || sub === 'verify-export')) {
    const { auditVerifyHelp, auditVerifyExportHelp } = await import('./audit.ts');
    return sub === 'verify' ? auditVerifyHelp() : auditVerifyExportHelp();
  }
  if (name === 'breach-scope') return (await import('./breach-scope.ts')).breachScopeHelp();
  if (head === 'deadletter') return (await import('./deadletter.ts')).deadLetterHelp();
  if (head === 'simulate') return (await import('./simulate.ts')).simulateHelp();
  throw new UnknownCommandError(name);
}

/** Thrown by commandHelp for a command massivesms does not have. */
export class UnknownCommandError extends Error {
  readonly command: string;

  constructor(command: string) {
    super(`no command ${command}`);
    this.name = 'UnknownCommandError';
    this.command = command;
  }
}
