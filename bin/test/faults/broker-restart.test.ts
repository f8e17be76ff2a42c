import { type PrivateKafka, startPrivateKafka } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type FaultPipeline, startFaultPipeline } from './pipeline.ts';

// Fault: the broker (one of this file's own) is stopped for 20 s in the middle of a run and started
// again. The services must notice, keep what they committed, consume again by themselves (no
// restart by hand) and finish every request.
describe('fault injection: the broker stopped for 20 s and restarted', () => {
  let broker: PrivateKafka;
  let p: FaultPipeline;

  beforeAll(async () => {
    broker = await startPrivateKafka();
    p = await startFaultPipeline({ brokers: broker.brokers });
  }, 180_000);
  afterAll(async () => {
    await p?.close();
    await broker?.remove();
  });

  it('every request still ends in one terminal status, sent at most once, with its processing events', {
    timeout: 300_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    await p.produce('outage', 100);
    await p.produce('outage-solo', 20, 'solo');
    await p.awaitTerminalWebhooks(5, 60_000); // traffic is flowing when the broker goes
    await broker.stop();
    await new Promise((r) => setTimeout(r, 20_000));
    await broker.start();
    await p.produce('after', 40);
    await p.awaitTerminalWebhooks(160, 180_000);
    const report = await p.check(90_000);
    expect(report.violations, p.formatReport(report)).toEqual([]);
    expect(report.checked.requests).toBe(160);
  });
});
