import type { z } from 'zod';
import { ConfigSpecError } from './errors.ts';

/** How one environment variable is parsed and documented. */
export interface ConfigVariable<S extends z.ZodType = z.ZodType> {
  /** Validates the raw string (or `undefined` when unset) and may transform it. */
  readonly schema: S;
  /** One sentence for docs/configuration.md. */
  readonly description: string;
  /** Raw string used when the variable is unset or empty; validated by `schema` like any value. */
  readonly default?: string;
  /** Keep the value out of error messages, JSON and util.inspect output. Secrets cannot have defaults. */
  readonly secret?: boolean;
  /** Property name in the parsed object; defaults to the camelCase form of the variable name. */
  readonly key?: string;
  /**
   * Checks the parsed value against other variables of the spec (one timeout must exceed another).
   * Gets every parsed value by property name (a variable the spec lacks is undefined) and returns
   * the problem, or undefined. Runs only when every variable parsed on its own.
   */
  readonly check?: (config: Readonly<Record<string, unknown>>) => string | undefined;
}

/** Environment variable name → how to parse it. */
export type ConfigSpec = Readonly<Record<string, ConfigVariable>>;

type PascalCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Capitalize<Lowercase<H>>}${PascalCase<T>}`
  : Capitalize<Lowercase<S>>;

/** `KAFKA_BROKERS` → `kafkaBrokers`, at the type level (mirrors toCamelCase). */
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Lowercase<H>}${PascalCase<T>}`
  : Lowercase<S>;

/** Recursively read-only view, matching the runtime deep freeze. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer E)[]
    ? readonly DeepReadonly<E>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

type KeyOf<Name extends string, V> = V extends { readonly key: infer K extends string } ? K : CamelCase<Name>;

/** The typed, frozen object parseConfig returns for a spec. */
export type ConfigOf<S extends ConfigSpec> = {
  readonly [N in keyof S & string as KeyOf<N, S[N]>]: DeepReadonly<z.output<S[N]['schema']>>;
};

const VARIABLE_NAME = /^[A-Z][A-Z0-9_]*$/;

/** Derives the property name for a variable, so specs need no hand-written keys (`HTTP_PORT` → `httpPort`). */
export function toCamelCase(name: string): string {
  const [head = '', ...rest] = name.split('_');
  return head.toLowerCase() + rest.map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join('');
}

/** Property name a variable of the spec is exposed under. */
export function keyOf(name: string, variable: ConfigVariable): string {
  return variable.key ?? toCamelCase(name);
}

/** True when the schema itself accepts an unset variable, i.e. the variable is optional. */
export function acceptsUnset(variable: ConfigVariable): boolean {
  return variable.schema.safeParse(undefined).success;
}

/** Checks a spec once at definition time so mistakes surface on import, not in production at 3 a.m. */
export function defineConfig<const S extends ConfigSpec>(spec: S): S {
  const keys = new Map<string, string>();
  for (const [name, variable] of Object.entries(spec)) {
    if (!VARIABLE_NAME.test(name)) {
      throw new ConfigSpecError('variable names must be UPPER_SNAKE_CASE', name);
    }
    if (variable.description.trim() === '') {
      throw new ConfigSpecError('a description is required (it is the documentation)', name);
    }
    if (variable.secret === true && variable.default !== undefined) {
      // A default secret would let production start silently on a well-known development value.
      throw new ConfigSpecError('secret variables cannot have a default', name);
    }
    if (variable.default !== undefined && !variable.schema.safeParse(variable.default).success) {
      throw new ConfigSpecError('the default does not pass its own schema', name);
    }
    const key = keyOf(name, variable);
    const other = keys.get(key);
    if (other !== undefined) {
      throw new ConfigSpecError(`property "${key}" is also produced by ${other}`, name);
    }
    keys.set(key, name);
  }
  return Object.freeze({ ...spec });
}
