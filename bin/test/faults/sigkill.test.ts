import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type FaultPipeline, SERVICES, type Service, startFaultPipeline } from './pipeline.ts';

// Fault: router, dispatcher and webhooks are each killed (SIGKILL: no shutdown, no offset commit,
// claims and leases left as they were) at random points of a run, and started again.
describe('fault injection: SIGKILL of each service at random points', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline();
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  it('every request still ends in one terminal status, sent at most once, each webhook under one id', {
    timeout: 300_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    const random = (max: number) => Math.floor(Math.random() * max);
    await p.produce('kill', 120);
    await p.produce('kill-solo', 30, 'solo');
    // Each service twice, in a random order, 0.3–2.3 s apart, restarted at once.
    const kills: Service[] = [...SERVICES, ...SERVICES].sort(() => Math.random() - 0.5);
    for (const [i, service] of kills.entries()) {
      await new Promise((r) => setTimeout(r, 300 + random(2_000)));
      await p.kill(service);
      p.start(service);
      if (i === 2) await p.produce('kill-late', 50);
    }
    await p.awaitTerminalWebhooks(200, 200_000);
    const report = await p.check(90_000);
    expect(report.violations, `${p.formatReport(report)}\nkills: ${kills.join(', ')}`).toEqual([]);
    expect(report.checked.requests).toBe(200);
  });
});
