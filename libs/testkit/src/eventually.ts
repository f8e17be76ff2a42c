/** Polls `check` until it stops throwing or `ms` elapse (then its last error is thrown). */
export async function eventually(ms: number, check: () => void | Promise<void>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
