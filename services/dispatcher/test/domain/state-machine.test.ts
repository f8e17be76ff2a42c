import { describe, expect, it } from 'vitest';
import {
  type ApplyResult,
  applyStatus,
  type IgnoreCode,
  isSendStatus,
  isTerminal,
  type SendStatus,
  sendStatuses,
} from '../../src/domain/state-machine.ts';

// The whole transition table, written out by hand from DESIGN.md §4 and the diagram in
// state-machine.ts: every (current, incoming) pair, 8 × 8 = 64 rows. `ok` means applied.

type Cell = 'ok' | IgnoreCode;
const DUP: Cell = 'STATUS_DUPLICATE';
const TERM: Cell = 'STATUS_TERMINAL';
const STALE: Cell = 'STATUS_STALE';
const KNOWN: Cell = 'STATUS_OUTCOME_KNOWN';
const RESEND: Cell = 'STATUS_NO_RESEND';

const columns: readonly SendStatus[] = [
  'sending',
  'queued',
  'sent',
  'delivered',
  'undelivered',
  'failed',
  'unknown',
  'expired',
];
const table: Record<SendStatus, readonly Cell[]> = {
  //           sending  queued  sent   delivered undelivered failed unknown expired
  sending: /**/ [DUP, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
  queued: /* */ [RESEND, DUP, 'ok', 'ok', 'ok', 'ok', KNOWN, KNOWN],
  sent: /*   */ [RESEND, STALE, DUP, 'ok', 'ok', 'ok', KNOWN, KNOWN],
  delivered: /**/ [TERM, TERM, TERM, DUP, TERM, TERM, TERM, TERM],
  undelivered: [TERM, TERM, TERM, TERM, DUP, TERM, TERM, TERM],
  failed: /* */ [TERM, TERM, TERM, TERM, TERM, DUP, TERM, TERM],
  unknown: /**/ [RESEND, 'ok', 'ok', 'ok', 'ok', 'ok', DUP, KNOWN],
  expired: /**/ [TERM, TERM, TERM, TERM, TERM, TERM, TERM, DUP],
};

const rows = Object.entries(table).flatMap(([from, cells]) =>
  cells.map((cell, i) => ({ from: from as SendStatus, to: columns[i] as SendStatus, cell })),
);

describe('applyStatus: every transition', () => {
  it('the table covers every pair of statuses', () => {
    expect(rows).toHaveLength(sendStatuses.length * sendStatuses.length);
    expect([...columns].sort()).toEqual([...sendStatuses].sort());
  });

  it.each(rows)('$from + $to → $cell', ({ from, to, cell }) => {
    const result = applyStatus({ status: from, statusSeq: 4 }, to);
    if (cell === 'ok') {
      expect(result).toEqual({ ignored: false, next: to, statusSeq: 5 });
    } else {
      expect(result).toMatchObject({ ignored: true, code: cell });
      if (result.ignored) expect(result.reason).toContain(from);
    }
  });
});

/** Plays receipts in order from `sending`, as the ingress would, keeping only applied changes. */
function play(incoming: readonly SendStatus[], start: SendStatus = 'sending', seq = 1) {
  let state = { status: start, statusSeq: seq };
  const log: (SendStatus | IgnoreCode)[] = [];
  for (const s of incoming) {
    const r: ApplyResult = applyStatus(state, s);
    if (r.ignored) {
      log.push(r.code);
    } else {
      state = { status: r.next, statusSeq: r.statusSeq };
      log.push(r.next);
    }
  }
  return { state, log };
}

describe('applyStatus: receipt sequences', () => {
  it.each([
    {
      name: 'in order',
      incoming: ['queued', 'sent', 'delivered'],
      log: ['queued', 'sent', 'delivered'],
      final: { status: 'delivered', statusSeq: 4 },
    },
    {
      name: 'the receipt beats the send response: the late queued is ignored',
      incoming: ['sent', 'delivered', 'queued'],
      log: ['sent', 'delivered', TERM],
      final: { status: 'delivered', statusSeq: 3 },
    },
    {
      name: 'a late sent never overwrites delivered',
      incoming: ['queued', 'delivered', 'sent'],
      log: ['queued', 'delivered', TERM],
      final: { status: 'delivered', statusSeq: 3 },
    },
    {
      name: 'sent arriving after queued was skipped, then a stale queued',
      incoming: ['sent', 'queued', 'undelivered'],
      log: ['sent', STALE, 'undelivered'],
      final: { status: 'undelivered', statusSeq: 3 },
    },
    {
      name: 'duplicated receipts count once',
      incoming: ['queued', 'queued', 'sent', 'sent', 'delivered', 'delivered'],
      log: ['queued', DUP, 'sent', DUP, 'delivered', DUP],
      final: { status: 'delivered', statusSeq: 4 },
    },
    {
      name: 'the first terminal wins: delivered after failed is ignored',
      incoming: ['queued', 'failed', 'delivered'],
      log: ['queued', 'failed', TERM],
      final: { status: 'failed', statusSeq: 3 },
    },
    {
      name: 'class D: failed straight from sending',
      incoming: ['failed'],
      log: ['failed'],
      final: { status: 'failed', statusSeq: 2 },
    },
    {
      name: 'class C then reconciled by receipts',
      incoming: ['unknown', 'sent', 'delivered'],
      log: ['unknown', 'sent', 'delivered'],
      final: { status: 'delivered', statusSeq: 4 },
    },
    {
      name: 'class C reconciled to queued by a carrier lookup, then a receipt',
      incoming: ['unknown', 'queued', 'unknown', 'delivered'],
      log: ['unknown', 'queued', KNOWN, 'delivered'],
      final: { status: 'delivered', statusSeq: 4 },
    },
    {
      name: 'class C never goes back to sending (that would be a resend)',
      incoming: ['unknown', 'sending', 'unknown'],
      log: ['unknown', RESEND, DUP],
      final: { status: 'unknown', statusSeq: 2 },
    },
    {
      name: 'a timeout reported after the receipt arrived does not make it ambiguous',
      incoming: ['delivered', 'unknown'],
      log: ['delivered', TERM],
      final: { status: 'delivered', statusSeq: 2 },
    },
  ] as const)('$name', ({ incoming, log, final }) => {
    const result = play(incoming);
    expect(result.log).toEqual(log);
    expect(result.state).toEqual(final);
  });

  it('statusSeq continues from the stored value, +1 per applied change only', () => {
    expect(play(['queued', 'queued', 'sent'], 'sending', 41).state).toEqual({
      status: 'sent',
      statusSeq: 43,
    });
    expect(applyStatus({ status: 'sending', statusSeq: 0 }, 'queued')).toEqual({
      ignored: false,
      next: 'queued',
      statusSeq: 1,
    });
  });
});

describe('applyStatus: bad input is a bug, not a receipt to skip', () => {
  it.each([
    { name: 'negative seq', current: { status: 'sending', statusSeq: -1 }, incoming: 'queued' },
    { name: 'fractional seq', current: { status: 'sending', statusSeq: 1.5 }, incoming: 'queued' },
    { name: 'NaN seq', current: { status: 'sending', statusSeq: Number.NaN }, incoming: 'queued' },
    { name: 'unknown current status', current: { status: 'suppressed', statusSeq: 1 }, incoming: 'queued' },
    { name: 'unknown incoming status', current: { status: 'sending', statusSeq: 1 }, incoming: 'accepted' },
  ])('$name throws', ({ current, incoming }) => {
    expect(() =>
      applyStatus(current as { status: SendStatus; statusSeq: number }, incoming as SendStatus),
    ).toThrow();
  });
});

describe('isTerminal / isSendStatus', () => {
  it.each([
    { status: 'sending', terminal: false },
    { status: 'queued', terminal: false },
    { status: 'sent', terminal: false },
    { status: 'unknown', terminal: false },
    { status: 'delivered', terminal: true },
    { status: 'undelivered', terminal: true },
    { status: 'failed', terminal: true },
  ] as const)('$status terminal: $terminal', ({ status, terminal }) => {
    expect(isTerminal(status)).toBe(terminal);
  });

  it.each([
    { value: 'queued', ok: true },
    { value: 'unknown', ok: true },
    { value: 'accepted', ok: false },
    { value: 'Queued', ok: false },
    { value: '', ok: false },
    { value: undefined, ok: false },
    { value: 3, ok: false },
  ])('isSendStatus($value) = $ok', ({ value, ok }) => {
    expect(isSendStatus(value)).toBe(ok);
  });
});
