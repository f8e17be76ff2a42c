import { describe, expect, it } from 'vitest';
import { isRowLevelFailure, StatementCoalescer } from '../src/index.ts';

/** A promise the test resolves when it likes: a statement held in flight. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** A flush that records its batches and, after `hold()`, keeps the next one in flight until `release()`. */
function recordingFlush(answer: (item: string) => string = (item) => item.toUpperCase()) {
  const batches: string[][] = [];
  let held: ReturnType<typeof gate> | undefined;
  let next: ReturnType<typeof gate> | undefined;
  return {
    batches,
    hold() {
      next = gate();
      held = next;
    },
    release: () => held?.open(),
    flush: async (items: readonly string[]) => {
      batches.push([...items]);
      const g = next;
      next = undefined;
      if (g) await g.opened;
      return items.map(answer);
    },
  };
}

const byItem = (item: string) => item;
const byKeyPrefix = (item: string) => item.split(':')[0]!;

describe('StatementCoalescer', () => {
  it('a lone call goes at once, in a batch of one', async () => {
    const f = recordingFlush();
    const c = new StatementCoalescer(f.flush, { key: byItem });
    expect(await c.run('a')).toBe('A');
    expect(f.batches).toEqual([['a']]);
  });

  it('calls made while a statement is in flight go together in the next one, each with its own result', async () => {
    const f = recordingFlush();
    const c = new StatementCoalescer(f.flush, { key: byItem, maxInFlight: 1 });
    f.hold();
    const first = c.run('a');
    const rest = ['b', 'c', 'd'].map((x) => c.run(x));
    f.release();
    expect(await first).toBe('A');
    expect(await Promise.all(rest)).toEqual(['B', 'C', 'D']);
    expect(f.batches).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('never puts two calls with one key in a statement, and keeps their order', async () => {
    const f = recordingFlush();
    const c = new StatementCoalescer(f.flush, { key: byKeyPrefix, maxInFlight: 1 });
    f.hold();
    const calls = ['x:0', 'm:1', 'n:1', 'm:2', 'o:1', 'm:3'].map((x) => c.run(x));
    f.release();
    await Promise.all(calls);
    expect(f.batches).toEqual([['x:0'], ['m:1', 'n:1', 'o:1'], ['m:2'], ['m:3']]);
  });

  it('splits at maxBatch', async () => {
    const f = recordingFlush();
    const c = new StatementCoalescer(f.flush, { key: byItem, maxBatch: 2, maxInFlight: 1 });
    f.hold();
    const calls = ['a', 'b', 'c', 'd', 'e'].map((x) => c.run(x));
    f.release();
    await Promise.all(calls);
    expect(f.batches.map((b) => b.length)).toEqual([1, 2, 2]);
  });

  it('when a multi-row statement fails, retries each call alone: only the faulty one is rejected', async () => {
    const batches: string[][] = [];
    const first = gate();
    const c = new StatementCoalescer(
      async (items: readonly string[]) => {
        batches.push([...items]);
        if (items[0] === 'first') await first.opened;
        if (items.includes('bad')) throw Object.assign(new Error('unique violation'), { code: '23505' });
        return items.map((i) => i.length);
      },
      { key: byItem, maxInFlight: 1 },
    );
    const held = c.run('first');
    const calls = ['ok', 'bad', 'fine'].map((x) => c.run(x));
    first.open();
    await held;
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(settled[0]).toMatchObject({ value: 2 });
    expect(settled[1]).toMatchObject({ reason: { message: 'unique violation', code: '23505' } });
    expect(batches).toEqual([['first'], ['ok', 'bad', 'fine'], ['ok'], ['bad'], ['fine']]);
    // The coalescer keeps working after a failure.
    expect(await c.run('again')).toBe(5);
  });

  it('rejects the whole batch, without running it again, when the failure is not one row’s (connection lost)', async () => {
    const batches: string[][] = [];
    const first = gate();
    const c = new StatementCoalescer(
      async (items: readonly string[]) => {
        batches.push([...items]);
        if (items[0] === 'first') {
          await first.opened;
          return [1];
        }
        // The server may have committed before the connection dropped: a retry could be a second write.
        throw Object.assign(new Error('Connection terminated unexpectedly'), {});
      },
      { key: byItem, maxInFlight: 1 },
    );
    const held = c.run('first');
    const calls = ['a', 'b'].map((x) => c.run(x));
    first.open();
    await held;
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(batches).toEqual([['first'], ['a', 'b']]);
  });

  it('classifies PostgreSQL errors: data, constraint and deadlock are one row’s; others are not', () => {
    for (const code of ['22P02', '23505', '23503', '40P01', '40001'])
      expect(isRowLevelFailure({ code }), code).toBe(true);
    for (const error of [{ code: '57014' }, { code: '08006' }, { code: 'ECONNRESET' }, new Error('x'), null])
      expect(isRowLevelFailure(error)).toBe(false);
  });

  it('runs several statements at once, never two with one key: a slow statement does not stop the others', async () => {
    const started: string[][] = [];
    const slowStatement = gate();
    const c = new StatementCoalescer(
      async (items: readonly string[]) => {
        started.push([...items]);
        if (items.includes('slow')) await slowStatement.opened;
        return items.map((i) => i.toUpperCase());
      },
      { key: byKeyPrefix, maxInFlight: 2 },
    );
    const slow = c.run('slow');
    // While `slow` is in flight the other keys go through the second slot; a second `slow:` call waits.
    const fast = ['a:1', 'slow:2', 'b:1'].map((x) => c.run(x));
    await expect(Promise.all([fast[0], fast[2]])).resolves.toEqual(['A:1', 'B:1']);
    expect(started).toEqual([['slow'], ['a:1'], ['b:1']]);
    slowStatement.open();
    await expect(slow).resolves.toBe('SLOW');
    await expect(fast[1]).resolves.toBe('SLOW:2');
    expect(started.at(-1)).toEqual(['slow:2']);
  });

  it('rejects a flush that answers the wrong number of results', async () => {
    const c = new StatementCoalescer(async () => [], { key: byItem });
    await expect(c.run('a')).rejects.toThrow('0 results for 1 items');
  });
});
