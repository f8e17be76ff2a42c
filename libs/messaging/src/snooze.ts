/**
 * The idle wait of a polling loop that the rest of the service can cut short (new work was stored,
 * the service is stopping). A wake while nobody waits is not remembered: the loop polls anyway.
 */
export class Snooze {
  #wake: (() => void) | undefined;

  /** Resolves after `ms`, or at the next `wake()`, whichever comes first. */
  for(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Ends the current wait, if there is one. */
  wake(): void {
    this.#wake?.();
  }
}
