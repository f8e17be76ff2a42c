/**
 * The delivery worker's wait between two looks at the queue: until `wake()` or a bounded timeout,
 * whichever comes first. Unlike a plain snooze, a wake that arrives while the worker is busy (in the
 * middle of a lease, whose snapshot may predate what was just stored) is remembered, and the next
 * wait returns at once: work stored meanwhile is leased right away, not at the next poll.
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  /** Resolves after `ms`, at the next `wake()`, or at once if a wake came since the last `clear()`. */
  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#resolve === done) this.#resolve = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#resolve = done;
    });
  }

  /** Forgets earlier wakes: called just before the worker looks, since that look covers them. */
  clear(): void {
    this.#pending = false;
  }

  /** Ends the current wait, or the next one if nobody waits now. */
  wake(): void {
    if (this.#resolve) this.#resolve();
    else this.#pending = true;
  }
}
