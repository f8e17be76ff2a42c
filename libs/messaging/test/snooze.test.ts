import { describe, expect, it } from 'vitest';
import { Snooze } from '../src/index.ts';

describe('Snooze', () => {
  it('a wake ends the wait at once', async () => {
    const snooze = new Snooze();
    const started = performance.now();
    const waiting = snooze.for(60_000);
    snooze.wake();
    await waiting;
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('without a wake the wait ends after its time', async () => {
    const snooze = new Snooze();
    let ended = false;
    const waiting = snooze.for(20).then(() => {
      ended = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(ended).toBe(false);
    await waiting;
    expect(ended).toBe(true);
  });

  it('a wake while nobody waits is not remembered: the next wait runs its time', async () => {
    const snooze = new Snooze();
    snooze.wake();
    let ended = false;
    const waiting = snooze.for(30).then(() => {
      ended = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(ended).toBe(false);
    await waiting;
    // And a wait that ended on its own leaves nothing behind for a later wake to resolve twice.
    snooze.wake();
    expect(ended).toBe(true);
  });
});
