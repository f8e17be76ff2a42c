import { AsyncLocalStorage } from 'node:async_hooks';

/** Where a log line comes from; identifiers only, never personal data. */
export interface LogContext {
  readonly traceId?: string;
  readonly spanId?: string;
  readonly topic?: string;
  readonly partition?: number;
  /** Kafka offsets are strings in kafkajs; numbers are accepted for convenience. */
  readonly offset?: string | number;
  readonly messageId?: string;
  readonly controllerId?: string;
}

// Only these keys are copied, so a JavaScript caller cannot smuggle `to` or `body` into every line.
const CONTEXT_KEYS = [
  'traceId',
  'spanId',
  'topic',
  'partition',
  'offset',
  'messageId',
  'controllerId',
] as const;

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `context` merged over the current one; every log line inside (sync or async) carries it. */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  const merged: Record<string, unknown> = { ...storage.getStore() };
  for (const key of CONTEXT_KEYS) {
    if (context[key] !== undefined) {
      merged[key] = context[key];
    }
  }
  return storage.run(Object.freeze(merged) as LogContext, fn);
}

/** The context of the current async call chain, if any (for tracing and error reports). */
export function getLogContext(): LogContext | undefined {
  return storage.getStore();
}
