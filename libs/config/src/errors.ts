/** One variable that failed validation; `reason` never contains the variable's value. */
export interface ConfigProblem {
  readonly variable: string;
  readonly reason: string;
}

/** Thrown by parseConfig when one or more environment variables are missing or invalid. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const list = problems.map((p) => `${p.variable}: ${p.reason}`).join('; ');
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${list}`);
    this.name = 'ConfigError';
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

/** Thrown by defineConfig when a spec itself is wrong (a programming error, not an operator error). */
export class ConfigSpecError extends Error {
  readonly code = 'CONFIG_SPEC_INVALID';
  readonly variable: string | undefined;

  constructor(message: string, variable?: string) {
    super(variable === undefined ? message : `${variable}: ${message}`);
    this.name = 'ConfigSpecError';
    this.variable = variable;
  }
}

/** Thrown by renderConfigDocs when the target document lacks the generated-table markers. */
export class ConfigDocsError extends Error {
  readonly code = 'CONFIG_DOCS_MARKERS_MISSING';

  constructor(message: string) {
    super(message);
    this.name = 'ConfigDocsError';
  }
}
