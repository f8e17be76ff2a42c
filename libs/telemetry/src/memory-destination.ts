import type { LogDestination } from './logger.ts';

/** A LogDestination that keeps lines in memory, for tests that assert on what was logged. */
export interface MemoryDestination extends LogDestination {
  /** Raw JSON lines, as written. */
  readonly lines: readonly string[];
  /** The lines parsed as JSON. */
  records(): Record<string, unknown>[];
  /** All output as one string, for "never contains" assertions. */
  text(): string;
}

/** Creates an in-memory log destination (pino writes to it synchronously). */
export function createMemoryDestination(): MemoryDestination {
  const lines: string[] = [];
  return {
    lines,
    write: (line: string) => {
      lines.push(line);
    },
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => lines.join(''),
  };
}
