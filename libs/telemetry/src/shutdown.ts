import type { Logger } from './logger.ts';

/**
 * On SIGTERM or SIGINT: log, run `stop` (drain in flight, commit, disconnect), log again. A stuck
 * dependency must not keep a terminating pod alive past its grace period, so `forceAfterMs` exits 1.
 */
export function drainOnSignal(log: Logger, stop: () => Promise<void>, forceAfterMs = 20_000): void {
  const onSignal = (signal: string) => {
    log.info({ signal }, 'stopping: draining work in flight');
    setTimeout(() => process.exit(1), forceAfterMs).unref();
    stop().then(
      () => log.info({}, 'stopped'),
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
