// The demo's summary: the figures per cell and in total (totals are the sums of the cells), and the
// human rendering, in which every figure says what it counts and how the figures relate.
import { type Cell, cells } from '@massivesms/contracts';

export type BreakerState = 'closed' | 'open' | 'half_open';
export type BreakerStates = { telnyx: BreakerState; twilio: BreakerState };

/** One cell's figures, or their sums over the cells. */
export interface CellFigures {
  requested: number;
  /** The router's verdicts: accepted + rejected + suppressed + expired = requested. */
  accepted: number;
  rejected: Record<string, number>;
  suppressed: number;
  expired: number;
  /** Messages a carrier accepted, per carrier. */
  sent: Record<string, number>;
  /** Messages sent via Twilio after a Telnyx call for them failed (the rest went to Twilio while Telnyx's breaker was open). */
  failovers: number;
  /** Sends whose carrier call ended without an answer (`unknown`), reconciled from the receipt, never resent. */
  ambiguous: number;
  breakerTransitions: number;
  /** What became of the accepted messages: delivered + undelivered + failed + stoppedAtDispatch = accepted. */
  delivered: number;
  undelivered: number;
  failed: number;
  /** Accepted, then stopped by the dispatcher before any carrier saw it (expired or suppressed meanwhile). */
  stoppedAtDispatch: number;
  /**
   * Final statuses of known controllers' messages (delivered, undelivered, failed, rejected, suppressed,
   * expired): each is owed one webhook per subscribed endpoint. Rejections without a readable, known
   * controller have nobody to tell.
   */
  finalStatuses: number;
  /** Signed webhooks: expected = finalStatuses × endpointsPerController; delivered as the receiver verified them. */
  webhooks: {
    endpointsPerController: number;
    expected: number;
    delivered: number;
    retried: number;
    deadLettered: number;
    signatureFailures: number;
  };
  /** Processing events in the ledger and signed checkpoints, and whether the ledger verified. */
  audit: { events: number; checkpoints: number; verified: boolean };
}

/** The demo's summary (DESIGN.md §9 keys): the totals at the top level, the cells under `cells`. */
export interface DemoSummary extends CellFigures {
  cells: Record<Cell, CellFigures>;
  /** Each cell's carrier breakers when the demo ended. */
  breakers: Record<Cell, BreakerStates>;
  audit: CellFigures['audit'] & {
    exportedEntries: number;
    /** The period the verified export covers: the whole run, or its first part when the run's is too large. */
    exportedPeriod: { from: string; to: string; wholeRun: boolean };
  };
  durationSeconds: number;
  /** Requests per second, from the first request produced to the last webhook delivered. */
  messagesPerSecond: number;
  /** Where the services' JSON log lines went. */
  logFile: string;
}

const add = (a: Record<string, number>, b: Record<string, number>) => {
  const sum = { ...a };
  for (const [k, v] of Object.entries(b)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
};

/** The sums of the cells' figures. */
export function totalFigures(perCell: readonly CellFigures[]): CellFigures {
  const sum = (f: (c: CellFigures) => number) => perCell.reduce((n, c) => n + f(c), 0);
  return {
    requested: sum((c) => c.requested),
    accepted: sum((c) => c.accepted),
    rejected: perCell.reduce((r, c) => add(r, c.rejected), {} as Record<string, number>),
    suppressed: sum((c) => c.suppressed),
    expired: sum((c) => c.expired),
    sent: perCell.reduce((r, c) => add(r, c.sent), {} as Record<string, number>),
    failovers: sum((c) => c.failovers),
    ambiguous: sum((c) => c.ambiguous),
    breakerTransitions: sum((c) => c.breakerTransitions),
    delivered: sum((c) => c.delivered),
    undelivered: sum((c) => c.undelivered),
    failed: sum((c) => c.failed),
    stoppedAtDispatch: sum((c) => c.stoppedAtDispatch),
    finalStatuses: sum((c) => c.finalStatuses),
    webhooks: {
      endpointsPerController: Math.max(0, ...perCell.map((c) => c.webhooks.endpointsPerController)),
      expected: sum((c) => c.webhooks.expected),
      delivered: sum((c) => c.webhooks.delivered),
      retried: sum((c) => c.webhooks.retried),
      deadLettered: sum((c) => c.webhooks.deadLettered),
      signatureFailures: sum((c) => c.webhooks.signatureFailures),
    },
    audit: {
      events: sum((c) => c.audit.events),
      checkpoints: sum((c) => c.audit.checkpoints),
      verified: perCell.every((c) => c.audit.verified),
    },
  };
}

/** What each rejection code means, in a few words. */
const rejectionMeaning: Record<string, string> = {
  CONTRACT_UNDECODABLE: 'not valid JSON',
  SMS_UNKNOWN_CONTROLLER: 'no such customer',
  SMS_INVALID_RECIPIENT: 'not a phone number',
  SMS_LANDLINE_RECIPIENT: 'a landline',
  SMS_PURPOSE_NOT_ALLOWED: 'purpose not in the instructions',
};

const sumOf = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** The human summary: a table per cell and in total, the relations between its figures, what to try next. */
export function formatSummary(s: DemoSummary): string {
  const cols = [...cells.map((c) => s.cells[c]), s as CellFigures];
  const header = ['', ...cells, 'total'];
  type Row = [string, ...(string | number)[]] | string;
  const row = (label: string, f: (c: CellFigures) => string | number): Row => [label, ...cols.map(f)];
  const codes = [...new Set(cols.flatMap((c) => Object.keys(c.rejected)))].sort();
  const carriers = [...new Set(cols.flatMap((c) => Object.keys(c.sent)))].sort();
  const rejected = sumOf(s.rejected);
  const sentTotal = sumOf(s.sent);
  const twilio = s.sent.twilio ?? 0;
  const rows: Row[] = [
    'Requests: what the router decided',
    row('requested', (c) => c.requested),
    row('accepted (routed to a carrier)', (c) => c.accepted),
    row('rejected (all codes)', (c) => sumOf(c.rejected)),
    ...codes.map((code) =>
      row(`  ${code} (${rejectionMeaning[code] ?? 'see docs'})`, (c) => c.rejected[code] ?? 0),
    ),
    row('suppressed (recipient texted STOP)', (c) => c.suppressed),
    row('expired (validUntil already past)', (c) => c.expired),
    `  accepted + rejected + suppressed + expired = requested: ${s.accepted} + ${rejected} + ${s.suppressed} + ${s.expired} = ${s.requested}`,
    'Sending: what became of the accepted messages',
    ...carriers.map((carrier) =>
      row(`sent via ${carrier} (the carrier accepted it)`, (c) => c.sent[carrier] ?? 0),
    ),
    row('  via twilio after a failed Telnyx call (failovers)', (c) => c.failovers),
    row("  via twilio while Telnyx's breaker was open", (c) => (c.sent.twilio ?? 0) - c.failovers),
    row('ambiguous sends (no answer; receipt decided, never resent)', (c) => c.ambiguous),
    row('delivered (signed carrier receipt)', (c) => c.delivered),
    row('undelivered (the carrier said so)', (c) => c.undelivered),
    row('failed (no carrier took it, or reconciliation gave up)', (c) => c.failed),
    ...(s.stoppedAtDispatch > 0
      ? [row('stopped at dispatch (expired or opted out meanwhile)', (c) => c.stoppedAtDispatch)]
      : []),
    `  delivered + undelivered + failed${s.stoppedAtDispatch > 0 ? ' + stopped' : ''} = accepted: ${s.delivered} + ${s.undelivered} + ${s.failed}${
      s.stoppedAtDispatch > 0 ? ` + ${s.stoppedAtDispatch}` : ''
    } = ${s.accepted}; sent ${sentTotal} = ${carriers.map((c) => s.sent[c] ?? 0).join(' + ')}`,
    `  twilio's ${twilio} = ${s.failovers} failovers + ${twilio - s.failovers} sent to twilio directly because Telnyx's breaker was open`,
    'Webhooks: one per final status and subscribed endpoint',
    row('final statuses of known controllers', (c) => c.finalStatuses),
    row('subscribed endpoints per controller', (c) => c.webhooks.endpointsPerController),
    row('webhooks delivered (signature verified)', (c) => c.webhooks.delivered),
    row('  retried (first attempt failed)', (c) => c.webhooks.retried),
    row('  dead-lettered', (c) => c.webhooks.deadLettered),
    row('  signature failures', (c) => c.webhooks.signatureFailures),
    `  final statuses = accepted + suppressed + expired + rejections of a known controller: ${s.accepted} + ${s.suppressed} + ${s.expired} + ${
      s.finalStatuses - s.accepted - s.suppressed - s.expired
    } = ${s.finalStatuses}`,
    `  webhooks = final statuses × endpoints: ${s.finalStatuses} × ${s.webhooks.endpointsPerController} = ${s.webhooks.expected}; delivered ${s.webhooks.delivered}`,
    `  (${rejected - (s.finalStatuses - s.accepted - s.suppressed - s.expired)} rejections name no known controller, so nobody is told)`,
    'Audit: the DPA processing record',
    row('processing events in the ledger', (c) => c.audit.events),
    row('signed checkpoints', (c) => c.audit.checkpoints),
    row('ledger verified (chain and signatures)', (c) => (c.audit.verified ? 'yes' : 'NO')),
    `  one controller's export verified offline: ${
      s.audit.verified
        ? `yes, ${s.audit.exportedEntries} entries, ${
            s.audit.exportedPeriod.wholeRun
              ? 'the whole run'
              : `the run's first ${Math.round((Date.parse(s.audit.exportedPeriod.to) - Date.parse(s.audit.exportedPeriod.from)) / 1000)} s (one export holds at most 200,000 entries)`
          }`
        : 'NO'
    }`,
    'Breakers: final state',
    ...(['telnyx', 'twilio'] as const).map((carrier) =>
      row(`${carrier} breaker`, (c) => {
        const i = cols.indexOf(c);
        return i < cells.length ? s.breakers[cells[i]!][carrier] : '';
      }),
    ),
    row('breaker changes', (c) => c.breakerTransitions),
  ];
  const tableRows = rows.filter((r): r is Exclude<Row, string> => typeof r !== 'string');
  const width = Math.max(...tableRows.map(([label]) => label.length));
  const colWidth = Math.max(8, ...tableRows.flatMap(([, ...v]) => v.map((x) => String(x).length)));
  const line = (cells_: (string | number)[]) =>
    `  ${String(cells_[0]).padEnd(width)}${cells_
      .slice(1)
      .map((v) => String(v).padStart(colWidth + 2))
      .join('')}`;
  const out = [
    '',
    `Demo summary: ${s.requested} request${s.requested === 1 ? '' : 's'} in ${s.durationSeconds} s (${s.messagesPerSecond} requests/s from the first request to the last webhook)`,
    line(header),
  ];
  for (const r of rows) out.push(typeof r === 'string' ? (r.startsWith('  ') ? r : `\n${r}`) : line(r));
  out.push(
    '',
    `Service logs (JSON lines): ${s.logFile}`,
    '',
    'Try next:',
    '  npm start -- --messages 10000          a bigger campaign (progress shows the rate per stage)',
    "  npm start --silent -- --json | jq .    the same summary as JSON (--silent keeps npm's banner off stdout)",
    '  npm start -- --keep-running            keep the control API, carriers and webhook receiver up to explore',
    '  docs/producers.md, docs/webhooks.md    send your own messages; verify webhooks on your endpoint',
    '',
  );
  return out.join('\n');
}
