import { describe, expect, it } from 'vitest';
import { type LoggedRecord, PartitionLog } from '../src/partition-log.ts';

const record = (key: string | null, value: string | null) => ({
  key,
  value: value === null ? null : Buffer.from(value),
  headers: {},
  timestamp: '0',
});
const offsets = (records: readonly LoggedRecord[]) => records.map((r) => r.offset);
const values = (records: readonly LoggedRecord[]) => records.map((r) => r.record.value?.toString() ?? null);

describe('partition log', () => {
  it('keeps offsets and values right across trims that copy the array down', () => {
    const log = new PartitionLog(false);
    for (let n = 0; n < 10_000; n++) log.append(record(`k${n}`, `v${n}`));
    log.trimTo(6_000); // the dropped head outweighs the rest: copied down
    expect([log.base, log.end, log.retained]).toEqual([6_000, 10_000, 4_000]);
    expect(values(log.read(0, 3))).toEqual(['v6000', 'v6001', 'v6002']);
    expect(offsets(log.read(9_998))).toEqual([9_998, 9_999]);
    for (let n = 10_000; n < 12_000; n++) log.append(record(`k${n}`, `v${n}`));
    log.trimTo(11_000);
    log.trimTo(10_500); // never backwards
    expect([log.base, log.end, log.retained]).toEqual([11_000, 12_000, 1_000]);
    expect(values(log.read(11_500, 2))).toEqual(['v11500', 'v11501']);
    log.trimTo(99_999); // no further than the end
    expect([log.base, log.end, log.retained]).toEqual([12_000, 12_000, 0]);
    log.append(record('k', 'next'));
    expect(log.read(0).map((r) => [r.offset, r.record.value?.toString()])).toEqual([[12_000, 'next']]);
  });

  it('a compacted log reads by offset through the gaps the trimmed prefix left, then into the tail', () => {
    const log = new PartitionLog(true);
    for (let n = 0; n < 2_000; n++) log.append(record(`k${n % 10}`, `v${n}`));
    log.append(record(null, 'no key'));
    log.trimTo(1_995); // k5..k9 latest at 1_985..1_989, k0..k4 at 1_990..1_994; the tail 1_995..2_000
    expect(log.base).toBe(1_985);
    expect(log.retained).toBe(10 + 6);
    expect(offsets(log.read(0, 3))).toEqual([1_985, 1_986, 1_987]);
    expect(offsets(log.read(1_993, 4))).toEqual([1_993, 1_994, 1_995, 1_996]);
    log.trimTo(2_001); // the record without a key has no state to keep
    expect(offsets(log.read(0))).toEqual(Array.from({ length: 10 }, (_, i) => 1_990 + i));
    expect(values(log.read(1_999))).toEqual(['v1999']);
  });
});
