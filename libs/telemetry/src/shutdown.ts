import type { Logger } from './logger.ts';
import { shutdownTracing } from './tracing.ts';

/**
 * On SIGTERM or SIGINT: log, run `stop` (drain in flight, commit, disconnect), log again and exit.
 * The process exits as soon as `stop` is done, even when a client it abandoned (a Kafka client still
 * retrying a broker that is down) keeps sockets or timers open. A `stop` still running after
 * `budgetMs` ends in exit 1, as does a second signal: a stuck dependency must not keep a terminating
 * pod alive past its grace period, which must be longer than the budget. Spans still buffered are
 * flushed last, in what is left of the budget.
 */
export function drainOnSignal(log: Logger, budgetMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal while stopping: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, budgetMs }, 'stopping: draining work in flight');
    setTimeout(() => {
      log.error({ budgetMs }, 'shutdown budget exceeded: exiting with work abandoned');
      process.exit(1);
    }, budgetMs).unref();
    const started = performance.now();
    stop()
      .then(() => shutdownTracing(budgetMs - (performance.now() - started) - 100))
      .then(
        () => {
          log.info({}, 'stopped');
          process.exit();
        },
        (error: unknown) => {
          log.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
