import { inspect } from 'node:util';
import { ConfigError, type ConfigProblem } from './errors.ts';
import { type ConfigOf, type ConfigSpec, type ConfigVariable, keyOf } from './spec.ts';

/** The part of process.env parseConfig reads; a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where loadConfigOrExit reports and how it stops; injectable so tests need not end the process. */
export interface ExitIo {
  readonly exit?: (code: number) => never;
  readonly stderr?: { write(chunk: string): unknown };
}

/** Exit code for a configuration error, distinct from 1 (crash) so supervisors can tell them apart. */
export const CONFIG_EXIT_CODE = 2;

const SECRET_MASK = '[secret]';
// user:password@ in connection URLs (DATABASE_URL, SASL broker URLs) must not reach logs either.
const URL_PASSWORD = /(\/\/[^/@:\s]*:)[^@/\s]*@/g;

type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string };

function parseVariable(name: string, variable: ConfigVariable, env: Env): Outcome {
  const given = env[name];
  // An empty value is almost always a templating slip (FOO= in a manifest): treat it as unset.
  const raw = given === undefined || given.trim() === '' ? variable.default : given;
  const result = variable.schema.safeParse(raw);
  if (result.success) {
    return { ok: true, value: result.data };
  }
  if (raw === undefined) {
    return { ok: false, reason: 'required' };
  }
  const messages = [...new Set(result.error.issues.map((issue) => issue.message))];
  let reason = messages.join('; ') || 'invalid';
  if (variable.secret === true && given !== undefined) {
    // Custom schemas may echo their input; a secret must never reach stderr or a log line.
    reason = reason.split(given).join(SECRET_MASK);
  }
  return { ok: false, reason };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) {
    return value;
  }
  for (const child of Object.values(value)) {
    deepFreeze(child);
  }
  return Object.freeze(value);
}

function maskedCopy(
  config: Record<string, unknown>,
  secretKeys: ReadonlySet<string>,
): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (secretKeys.has(key) && value !== undefined) {
      copy[key] = SECRET_MASK;
    } else if (typeof value === 'string') {
      copy[key] = value.replace(URL_PASSWORD, `$1${SECRET_MASK}@`);
    } else {
      copy[key] = value;
    }
  }
  return copy;
}

/** Parses and validates every variable of the spec, reporting all problems at once, into a frozen object. */
export function parseConfig<const S extends ConfigSpec>(spec: S, env: Env = process.env): ConfigOf<S> {
  const problems: ConfigProblem[] = [];
  const config: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [name, variable] of Object.entries(spec)) {
    const key = keyOf(name, variable);
    if (variable.secret === true) {
      secretKeys.add(key);
    }
    const outcome = parseVariable(name, variable, env);
    if (outcome.ok) {
      config[key] = outcome.value;
    } else {
      problems.push({ variable: name, reason: outcome.reason });
    }
  }
  if (problems.length === 0) {
    for (const [name, variable] of Object.entries(spec)) {
      const reason = variable.check?.(config);
      if (reason !== undefined) {
        problems.push({ variable: name, reason });
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  // Non-enumerable, so spreading and equality see only the values; logging the object masks secrets.
  Object.defineProperty(config, 'toJSON', { value: () => maskedCopy(config, secretKeys) });
  Object.defineProperty(config, inspect.custom, {
    value: (_depth: number, options: object) => inspect(maskedCopy(config, secretKeys), options),
  });
  return deepFreeze(config) as ConfigOf<S>;
}

/** Formats problems as `config: NAME: reason` lines, the shape loadConfigOrExit prints. */
export function formatConfigProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `config: ${p.variable}: ${p.reason}\n`).join('');
}

/** Start-up entry point: parse, or print every problem to stderr and exit with code 2. */
export function loadConfigOrExit<const S extends ConfigSpec>(
  spec: S,
  env: Env = process.env,
  io: ExitIo = {},
): ConfigOf<S> {
  try {
    return parseConfig(spec, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw error;
    }
    (io.stderr ?? process.stderr).write(formatConfigProblems(error.problems));
    if (io.exit === undefined) {
      process.exit(CONFIG_EXIT_CODE);
    }
    io.exit(CONFIG_EXIT_CODE);
    // Only reached when an injected exit returns instead of ending the process.
    throw error;
  }
}
