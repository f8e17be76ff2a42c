export { getLogContext, type LogContext, withLogContext } from './context.ts';
export {
  createLogger,
  type LogDestination,
  type LogFn,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  logLevels,
  REDACTED,
  redactPaths,
} from './logger.ts';
export { createMemoryDestination, type MemoryDestination } from './memory-destination.ts';
export { type OpsServerOptions, startOpsServer } from './ops-server.ts';
export {
  EMAIL_PLACEHOLDER,
  PHONE_PLACEHOLDER,
  SensitiveStrings,
  scrubString,
  scrubValue,
  sensitiveStrings,
  TEXT_PLACEHOLDER,
} from './scrub.ts';
export { drainOnSignal } from './shutdown.ts';
export {
  endSpans,
  type HttpCallInfo,
  shutdownTracing,
  startProcessSpan,
  startSendSpans,
  traceContextOf,
  traceFastify,
  traceHeaders,
  traceHttpCall,
  tracingEnabled,
  withTraceOf,
} from './tracing.ts';
export {
  ScrubbingExporter,
  scrubAttributes,
  scrubSpan,
  startTracing,
  tracingConfigured,
} from './tracing-sdk.ts';
