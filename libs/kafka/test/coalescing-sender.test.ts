import type { OutgoingRecord } from '@massivesms/messaging';
import { describe, expect, it } from 'vitest';
import { CoalescingSender } from '../src/coalescing-sender.ts';

const rec = (value: string, size = 0): OutgoingRecord => ({
  topic: 't',
  key: null,
  value: value + 'x'.repeat(size),
});

/** A flush whose requests the test completes by hand. */
function manualFlush() {
  const requests: { records: string[]; done: () => void; fail: (e: Error) => void }[] = [];
  const flush = (records: OutgoingRecord[]) =>
    new Promise<void>((resolve, reject) => {
      requests.push({
        records: records.map((r) => String(r.value).slice(0, 2)),
        done: resolve,
        fail: reject,
      });
    });
  return { requests, flush };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('CoalescingSender', () => {
  it('an idle sender sends at once; what arrives while a request is in flight goes out together, in order', async () => {
    const { requests, flush } = manualFlush();
    const sender = new CoalescingSender(flush);
    const first = sender.send([rec('a1')]);
    await tick();
    expect(requests.map((r) => r.records)).toEqual([['a1']]);
    const second = sender.send([rec('b1'), rec('b2')]);
    const third = sender.send([rec('c1')]);
    await tick();
    expect(requests).toHaveLength(1); // one request in flight at a time
    requests[0]!.done();
    await first;
    await tick();
    expect(requests.map((r) => r.records)).toEqual([['a1'], ['b1', 'b2', 'c1']]);
    requests[1]!.done();
    await expect(Promise.all([second, third])).resolves.toBeDefined();
  });

  it('a failed request rejects exactly the callers whose records it carried; later ones still go', async () => {
    const { requests, flush } = manualFlush();
    const sender = new CoalescingSender(flush);
    const first = sender.send([rec('a1')]);
    await tick();
    const second = sender.send([rec('b1')]);
    requests[0]!.fail(new Error('broker down'));
    await expect(first).rejects.toThrow('broker down');
    await tick();
    requests[1]!.done();
    await expect(second).resolves.toBeUndefined();
  });

  it('splits a backlog into requests under the size bound, never splitting one call', async () => {
    const { requests, flush } = manualFlush();
    const sender = new CoalescingSender(flush);
    const first = sender.send([rec('a1')]);
    await tick();
    const big = Array.from({ length: 3 }, (_, i) => sender.send([rec(`b${i}`, 200_000), rec(`c${i}`, 10)]));
    requests[0]!.done();
    await first;
    await tick();
    expect(requests[1]!.records).toEqual(['b0', 'c0', 'b1', 'c1']); // 2 × 200 kB fit, the third does not
    requests[1]!.done();
    await tick();
    expect(requests[2]!.records).toEqual(['b2', 'c2']);
    requests[2]!.done();
    await Promise.all(big);
  });

  it('sending nothing resolves without a request', async () => {
    const { requests, flush } = manualFlush();
    await new CoalescingSender(flush).send([]);
    expect(requests).toHaveLength(0);
  });
});
