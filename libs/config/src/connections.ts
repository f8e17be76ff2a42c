// Encryption in transit (DPA §5): how Kafka and PostgreSQL connections are secured. TLS verifies the
// server against a CA and its host name; Kafka also authenticates with SASL/SCRAM. Secrets come from
// files (mounted Kubernetes Secrets) and are read only when a client is built, so the parsed
// configuration holds paths, never a password.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';

/** Kafka's names for how a client talks to the brokers (SASL_PLAINTEXT would send records in clear). */
export const kafkaSecurityProtocols = ['PLAINTEXT', 'SSL', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof kafkaSecurityProtocols)[number];

/** SASL mechanisms accepted: SCRAM only (PLAIN hands the broker the password itself). */
export const kafkaSaslMechanisms = ['scram-sha-512', 'scram-sha-256'] as const;
export type KafkaSaslMechanism = (typeof kafkaSaslMechanisms)[number];

/** libpq's names for the two modes offered: no TLS, or TLS with CA and host name verification. */
export const databaseSslModes = ['disable', 'verify-full'] as const;
export type DatabaseSslMode = (typeof databaseSslModes)[number];

/** Whether a host name or address is this machine: plaintext is allowed there by default. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/** The host part of `host:port` (IPv6 as `[addr]:port`). */
function brokerHost(entry: string): string {
  return entry.slice(0, entry.lastIndexOf(':'));
}

/** The protocol in force: the one set, else PLAINTEXT for loopback-only brokers and SASL_SSL for any other. */
export function effectiveKafkaSecurityProtocol(
  brokers: readonly string[],
  set: KafkaSecurityProtocol | undefined,
): KafkaSecurityProtocol {
  if (set !== undefined) return set;
  return brokers.every((b) => isLoopbackHost(brokerHost(b))) ? 'PLAINTEXT' : 'SASL_SSL';
}

/** The server of a PostgreSQL URL is this machine (loopback host or a Unix socket). */
export function isLocalDatabaseUrl(url: string): boolean {
  const parsed = new URL(url);
  const socket = parsed.searchParams.get('host');
  if (socket?.startsWith('/')) return true;
  return parsed.hostname === '' || isLoopbackHost(parsed.hostname);
}

/** The mode in force: the one set, else `disable` for a local server and `verify-full` for any other. */
export function effectiveDatabaseSslMode(url: string, set: DatabaseSslMode | undefined): DatabaseSslMode {
  if (set !== undefined) return set;
  return isLocalDatabaseUrl(url) ? 'disable' : 'verify-full';
}

/** A PEM file of one or more CA certificates; checked at start-up, read again when a client is built. */
export function caFileSchema() {
  return z
    .string()
    .optional()
    .superRefine((path, ctx) => {
      if (path === undefined) return;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        });
        return;
      }
      if (!text.includes('-----BEGIN CERTIFICATE-----')) {
        ctx.addIssue({ code: 'custom', message: 'is not a PEM file of CA certificates (BEGIN CERTIFICATE)' });
      }
    });
}

/** A file holding one secret (the whole file less one trailing newline); its contents are never echoed. */
export function secretFileSchema() {
  return z
    .string()
    .optional()
    .superRefine((path, ctx) => {
      if (path === undefined) return;
      let secret: string;
      try {
        secret = readSecretFile(path);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        });
        return;
      }
      if (secret === '') ctx.addIssue({ code: 'custom', message: 'the file is empty' });
    });
}

/** Reads a secret file: its contents less one trailing newline (editors and `echo` add one). */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/** Cross-checks of the KAFKA_* security variables, so a misconfiguration stops start-up with a reason. */
function kafkaCheck(
  variable: 'ca' | 'username' | 'password',
): (config: Readonly<Record<string, unknown>>) => string | undefined {
  return (config) => {
    const brokers = config.kafkaBrokers as readonly string[] | undefined;
    if (brokers === undefined) return undefined;
    const protocol = effectiveKafkaSecurityProtocol(
      brokers,
      config.kafkaSecurityProtocol as KafkaSecurityProtocol | undefined,
    );
    const why =
      config.kafkaSecurityProtocol === undefined
        ? 'the security protocol is SASL_SSL (the default for brokers that are not on loopback)'
        : 'KAFKA_SECURITY_PROTOCOL is SASL_SSL';
    switch (variable) {
      case 'username':
        if (protocol === 'SASL_SSL' && config.kafkaSaslUsername === undefined) return `required: ${why}`;
        if (protocol !== 'SASL_SSL' && config.kafkaSaslUsername !== undefined)
          return `set, but the security protocol is ${protocol}: set KAFKA_SECURITY_PROTOCOL=SASL_SSL`;
        return undefined;
      case 'password':
        if (protocol === 'SASL_SSL' && config.kafkaSaslPasswordFile === undefined) return `required: ${why}`;
        if (protocol !== 'SASL_SSL' && config.kafkaSaslPasswordFile !== undefined)
          return `set, but the security protocol is ${protocol}: set KAFKA_SECURITY_PROTOCOL=SASL_SSL`;
        return undefined;
      case 'ca':
        return protocol === 'PLAINTEXT' && config.kafkaSslCaFile !== undefined
          ? 'set, but the security protocol is PLAINTEXT (no TLS)'
          : undefined;
    }
  };
}

/** The KAFKA_* variables that secure the connection; spread into a spec beside KAFKA_BROKERS. */
export const kafkaSecuritySpec = {
  KAFKA_SECURITY_PROTOCOL: {
    schema: z
      .enum(kafkaSecurityProtocols, { error: `must be one of: ${kafkaSecurityProtocols.join(', ')}` })
      .optional(),
    description:
      'How clients talk to the brokers: `SASL_SSL` (TLS with the server verified against `KAFKA_SSL_CA_FILE` and its host name, then SASL/SCRAM login; production), `SSL` (TLS without login) or `PLAINTEXT` (no encryption). Unset: `PLAINTEXT` when every broker is a loopback address (local development), otherwise `SASL_SSL`, so a remote broker is never reached in clear by omission.',
  },
  KAFKA_SSL_CA_FILE: {
    schema: caFileSchema(),
    description:
      "PEM file of the CA certificates the brokers' TLS certificates must chain to. Unset: Node's bundled public CAs. Checked at start-up.",
    check: kafkaCheck('ca'),
  },
  KAFKA_SASL_MECHANISM: {
    schema: z.enum(kafkaSaslMechanisms, {
      error: `must be one of: ${kafkaSaslMechanisms.join(', ')} (PLAIN is refused: it sends the password itself)`,
    }),
    default: 'scram-sha-512',
    description: `SASL mechanism with \`SASL_SSL\`: ${kafkaSaslMechanisms.map((m) => `\`${m}\``).join(' or ')}. PLAIN is refused.`,
  },
  KAFKA_SASL_USERNAME: {
    schema: z.string().regex(/^\S+$/, { error: 'must not contain whitespace' }).optional(),
    description: 'SASL user name; required with `SASL_SSL`, refused with any other protocol.',
    check: kafkaCheck('username'),
  },
  KAFKA_SASL_PASSWORD_FILE: {
    schema: secretFileSchema(),
    description:
      'File holding the SASL password (a mounted Secret; one trailing newline is ignored); required with `SASL_SSL`. Read when the clients are built, never logged; a changed password needs a restart.',
    check: kafkaCheck('password'),
  },
} as const;

/** Cross-checks of the DATABASE_SSL_* variables. */
function databaseCaCheck(config: Readonly<Record<string, unknown>>): string | undefined {
  const url = config.databaseUrl;
  if (typeof url !== 'string' || config.databaseSslCaFile === undefined) return undefined;
  const mode = effectiveDatabaseSslMode(url, config.databaseSslMode as DatabaseSslMode | undefined);
  return mode === 'disable' ? 'set, but DATABASE_SSL_MODE is disable (no TLS)' : undefined;
}

/** The DATABASE_SSL_* variables; spread into a spec beside DATABASE_URL. */
export const databaseSslSpec = {
  DATABASE_SSL_MODE: {
    schema: z.enum(databaseSslModes, { error: `must be one of: ${databaseSslModes.join(', ')}` }).optional(),
    description:
      "TLS to PostgreSQL: `verify-full` (libpq's meaning: TLS, the server certificate must chain to `DATABASE_SSL_CA_FILE` and name the URL's host) or `disable`. Unset: `disable` for a loopback host or a Unix socket (local development), otherwise `verify-full`. Set TLS here, not with `ssl*` parameters in `DATABASE_URL` (refused) or `PGSSLMODE` (ignored).",
  },
  DATABASE_SSL_CA_FILE: {
    schema: caFileSchema(),
    description:
      "PEM file of the CA certificates the PostgreSQL server's certificate must chain to. Unset: Node's bundled public CAs. Checked at start-up.",
    check: databaseCaCheck,
  },
} as const;

/** The connection settings of the Kafka adapter (libs/kafka's KafkaConnection). */
export interface KafkaConnectionOptions {
  brokers: string[];
  ssl?: { ca?: string[] };
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
}

/**
 * The Kafka connection the KAFKA_* variables describe, secrets read from their files, so every
 * composition root connects the same way: `new KafkaBus({ ...kafkaConnectionOptions(config), clientId })`.
 */
export function kafkaConnectionOptions(config: {
  readonly kafkaBrokers: readonly string[];
  readonly kafkaSecurityProtocol: KafkaSecurityProtocol | undefined;
  readonly kafkaSslCaFile: string | undefined;
  readonly kafkaSaslMechanism: KafkaSaslMechanism;
  readonly kafkaSaslUsername: string | undefined;
  readonly kafkaSaslPasswordFile: string | undefined;
}): KafkaConnectionOptions {
  const protocol = effectiveKafkaSecurityProtocol(config.kafkaBrokers, config.kafkaSecurityProtocol);
  const options: KafkaConnectionOptions = { brokers: [...config.kafkaBrokers] };
  if (protocol === 'PLAINTEXT') return options;
  options.ssl =
    config.kafkaSslCaFile === undefined ? {} : { ca: [readFileSync(config.kafkaSslCaFile, 'utf8')] };
  if (protocol === 'SASL_SSL') {
    if (config.kafkaSaslUsername === undefined || config.kafkaSaslPasswordFile === undefined) {
      throw new Error('SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE');
    }
    options.sasl = {
      mechanism: config.kafkaSaslMechanism,
      username: config.kafkaSaslUsername,
      password: readSecretFile(config.kafkaSaslPasswordFile),
    };
  }
  return options;
}

/** The createPgDb `ssl` option (libs/db) the DATABASE_SSL_* variables describe: false, or TLS verified. */
export function databaseSslOption(config: {
  readonly databaseUrl: string;
  readonly databaseSslMode: DatabaseSslMode | undefined;
  readonly databaseSslCaFile: string | undefined;
}): false | { ca?: string } {
  if (effectiveDatabaseSslMode(config.databaseUrl, config.databaseSslMode) === 'disable') return false;
  return config.databaseSslCaFile === undefined ? {} : { ca: readFileSync(config.databaseSslCaFile, 'utf8') };
}
