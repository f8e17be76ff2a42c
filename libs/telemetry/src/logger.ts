import { hostname } from 'node:os';
import { type DestinationStream, type Logger as PinoLogger, pino, stdTimeFunctions } from 'pino';
import { getLogContext } from './context.ts';
import { scrubString, scrubValue } from './scrub.ts';

/** pino's level names, lowest-volume first. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A level a logger can be set to. */
export type LogLevel = (typeof logLevels)[number];

/** One logging method: a message, or fields (or an Error) plus an optional message. */
export interface LogFn {
  (msg: string): void;
  (obj: object, msg?: string): void;
}

/** The logging port services depend on; pino is only the adapter behind it. */
export interface Logger {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  /** A logger whose lines all carry `bindings` (scrubbed like any other field). */
  child(bindings: Record<string, unknown>): Logger;
}

/** Where JSON lines go; anything with `write(line)`, e.g. a stream or an in-memory collector. */
export type LogDestination = DestinationStream;

/** Options for createLogger. */
export interface LoggerOptions {
  /** Service name, on every line. */
  readonly service: string;
  readonly level?: LogLevel;
  /** Defaults to stdout. */
  readonly destination?: LogDestination;
}

/** Replaces the value of a redacted field. */
export const REDACTED = '[redacted]';

// Field names that hold personal data or credentials, whatever the value looks like (a name, a message
// body). Censored at the top level and two levels down (covers req.headers.authorization, arrays of
// recipients); deeper values are still caught by the value scrubber when they look like a phone or e-mail.
const PERSONAL_KEYS = [
  'to',
  'from',
  'body',
  'text',
  'phone',
  'phoneNumber',
  'phone_number',
  'msisdn',
  'recipient',
  'recipients',
  'name',
  'firstName',
  'lastName',
  'email',
  'authorization',
  'cookie',
  'set-cookie',
  'password',
  'secret',
  'token',
  'apiKey',
  'api_key',
];

function pathFor(prefix: string, key: string): string {
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  if (prefix === '') {
    return segment;
  }
  return segment.startsWith('[') ? `${prefix}${segment}` : `${prefix}.${segment}`;
}

/** The pino redact paths createLogger uses (exported so tests and reviewers can see exactly what is censored). */
export const redactPaths: readonly string[] = PERSONAL_KEYS.flatMap((key) => [
  pathFor('', key),
  pathFor('*', key),
  pathFor('*.*', key),
]);

/** Keys pino writes on every line itself, which a call site's field would repeat. */
const LINE_KEYS = ['level', 'time', 'msg'] as const;

/**
 * pino writes a call site's fields and the bound ones (service, pid, hostname, child bindings) side by
 * side, so a field named like a bound key would appear twice in one JSON line, and parsers keep only
 * one of the two. Such a field is kept under `<key>Field` instead: each key once, nothing lost.
 */
function withoutBoundKeys(fields: object, bound: ReadonlySet<string>): object {
  if (fields instanceof Error || !Object.keys(fields).some((key) => bound.has(key))) return fields;
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) renamed[bound.has(key) ? `${key}Field` : key] = value;
  return renamed;
}

class PinoAdapter implements Logger {
  readonly #pino: PinoLogger;
  readonly #bound: ReadonlySet<string>;

  constructor(logger: PinoLogger, bound: Iterable<string>) {
    this.#pino = logger;
    this.#bound = new Set([...LINE_KEYS, ...bound]);
  }

  // Arrow properties so `const { info } = logger` and passing `logger.error` as a callback work.
  readonly debug: LogFn = (objOrMsg: object | string, msg?: string) => this.#write('debug', objOrMsg, msg);
  readonly info: LogFn = (objOrMsg: object | string, msg?: string) => this.#write('info', objOrMsg, msg);
  readonly warn: LogFn = (objOrMsg: object | string, msg?: string) => this.#write('warn', objOrMsg, msg);
  readonly error: LogFn = (objOrMsg: object | string, msg?: string) => this.#write('error', objOrMsg, msg);

  child(bindings: Record<string, unknown>): Logger {
    // pino applies formatters.bindings to the root only, so child bindings are scrubbed here; and only
    // bindings reach pino's child(), whose options could replace the formatters and redaction.
    const bound = withoutBoundKeys(bindings, this.#bound);
    return new PinoAdapter(this.#pino.child(scrubValue(bound) as Record<string, unknown>), [
      ...this.#bound,
      ...Object.keys(bound),
    ]);
  }

  #write(
    level: 'debug' | 'info' | 'warn' | 'error',
    objOrMsg: object | string,
    msg: string | undefined,
  ): void {
    // Exact arity: pino treats extra arguments as printf-style parameters.
    const fields = typeof objOrMsg === 'string' ? objOrMsg : withoutBoundKeys(objOrMsg, this.#bound);
    if (typeof fields === 'string' || msg === undefined) {
      this.#pino[level](fields);
    } else {
      this.#pino[level](fields, msg);
    }
  }
}

/** Creates a JSON-lines logger with personal-data redaction and AsyncLocalStorage context on every line. */
export function createLogger(options: LoggerOptions): Logger {
  const base = { service: options.service, pid: process.pid, hostname: hostname() };
  const instance = pino(
    {
      level: options.level ?? 'info',
      base,
      timestamp: stdTimeFunctions.isoTime,
      // Context first, so fields given at the call site win over it.
      mixin: () => ({ ...getLogContext() }),
      formatters: {
        level: (label) => ({ level: label }),
        // The root's base (service, hostname); child bindings are scrubbed in PinoAdapter.child.
        bindings: (bindings) => scrubValue(bindings) as Record<string, unknown>,
        // Merge object plus mixin, including Errors anywhere in it.
        log: (record) => scrubValue(record) as Record<string, unknown>,
      },
      serializers: {
        // `msg` is serialised after pino derives it from an Error, a prefix or format arguments.
        msg: (msg: unknown) => (typeof msg === 'string' ? scrubString(msg) : scrubValue(msg)),
        err: (err: unknown) => scrubValue(err),
      },
      redact: { paths: [...redactPaths], censor: REDACTED },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  return new PinoAdapter(instance, Object.keys(base));
}
