/**
 * The sends this process has with a carrier, until their outcome is stored. A carrier can post a
 * message's receipt before its answer to the send was recorded here; the receipt then waits for
 * that outcome (bounded), so the message is announced `queued` before `sent`, as it happened.
 */
export class SendsInFlight {
  readonly #pending = new Map<string, Promise<unknown>>();

  /** Registers `work` (a send and the storing of its outcome) for the message; returns it. */
  track<T>(controllerId: string, messageId: string, work: Promise<T>): Promise<T> {
    const key = `${controllerId}\u0000${messageId}`;
    this.#pending.set(key, work);
    const done = () => {
      if (this.#pending.get(key) === work) this.#pending.delete(key);
    };
    work.then(done, done);
    return work;
  }

  /** Resolves when the message's send in flight (if any) settled, or after `maxMs`. */
  async settled(controllerId: string, messageId: string, maxMs: number): Promise<void> {
    const work = this.#pending.get(`${controllerId}\u0000${messageId}`);
    if (!work) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      work.catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, maxMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
