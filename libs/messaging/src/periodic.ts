/** A job run on a timer, one run at a time, that stops with the service. */
export interface PeriodicJob {
  /** Clears the timer and waits for a run in progress to end. */
  stop(): Promise<void>;
}

/**
 * Runs `job` every `everyMs` (a run still going when the next is due makes that one skip). A failed
 * run is reported and the job runs again at the next tick. The timer does not keep the process alive.
 */
export function startPeriodic(
  job: () => Promise<unknown>,
  everyMs: number,
  onError: (error: unknown) => void,
): PeriodicJob {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= job()
      .then(
        () => {},
        (error: unknown) => onError(error),
      )
      .finally(() => {
        running = undefined;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
