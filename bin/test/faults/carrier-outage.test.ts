import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type FaultPipeline, startFaultPipeline } from './pipeline.ts';

// Fault: Telnyx fails (503) in the middle of a run, until every acme message of that time ended.
// acme's instruction allows Twilio, so its messages fail over through the circuit breaker; solo's
// allows Telnyx only, so its messages wait for Telnyx (parked) without holding back acme's on the
// same partitions.
describe('fault injection: a carrier outage with failover', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline();
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  it('acme fails over to Twilio at once, solo waits for Telnyx, every request ends once', {
    timeout: 240_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    await p.produce('calm', 30);
    await p.awaitTerminalWebhooks(30, 60_000);
    await p.telnyx.faults.configure({ always: { status5xx: 503 } });
    let outageEnded = false;
    try {
      const solo = await p.produce('outage-solo', 20, 'solo');
      const acme = await p.produce('outage-acme', 60);
      // During the outage every acme message ends, through Twilio (a Twilio call that timed out on
      // a loaded machine may end `failed` instead: never resent); none of solo's is sent.
      await p.awaitTerminalWebhooks(90, 60_000);
      const viaTwilio = acme.filter((m) => p.twilio.ledger.countForCallbackId(m) === 1).length;
      expect(viaTwilio).toBeGreaterThan(acme.length / 2);
      expect(acme.every((m) => p.telnyx.ledger.countForCallbackId(m) === 0)).toBe(true);
      expect(solo.every((m) => p.telnyx.ledger.countForCallbackId(m) === 0)).toBe(true);
      expect(solo.every((m) => p.twilio.ledger.countForCallbackId(m) === 0)).toBe(true);
      await p.telnyx.faults.configure({ always: null });
      outageEnded = true;
      await p.awaitTerminalWebhooks(110, 90_000);
      // Through Telnyx, never Twilio (not in solo's instruction).
      const viaTelnyx = solo.filter((m) => p.telnyx.ledger.countForCallbackId(m) === 1).length;
      expect(viaTelnyx).toBeGreaterThan(solo.length / 2);
      expect(solo.every((m) => p.twilio.ledger.countForCallbackId(m) === 0)).toBe(true);
    } finally {
      if (!outageEnded) await p.telnyx.faults.configure({ always: null });
    }
    const report = await p.check();
    expect(report.violations, p.formatReport(report)).toEqual([]);
    expect(report.checked.requests).toBe(110);
  });
});
