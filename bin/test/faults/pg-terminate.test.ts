import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { connectionPorts, type FaultPipeline, SERVICES, startFaultPipeline } from './pipeline.ts';

// Fault: the services' own PostgreSQL connections are terminated mid-batch (pg_terminate_backend),
// again and again while traffic flows. Each service's connections are found from its process
// (/proc), so other tests sharing the server are left alone.
describe('fault injection: PostgreSQL connections terminated mid-batch', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline();
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  /** Terminates every connection the three service processes hold; returns how many. */
  async function terminateServiceConnections(): Promise<number> {
    const ports = SERVICES.flatMap((s) => {
      const pid = p.pid(s);
      return pid ? connectionPorts(pid, 5432) : [];
    });
    if (ports.length === 0) return 0;
    const { rows } = await p.db.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
        WHERE client_port = ANY($1::int[]) AND client_addr IN ('127.0.0.1', '::1')`,
      [ports],
    );
    return rows.filter((r) => r.terminated).length;
  }

  it('every request still ends in one terminal status, sent at most once, with its processing events', {
    timeout: 240_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    let terminated = 0;
    await p.produce('pg', 100);
    await p.produce('pg-solo', 20, 'solo');
    await p.awaitTerminalWebhooks(5, 60_000); // every service is up and working
    // Every 700 ms for 10 s, while batches, sends, receipts and webhooks are in flight.
    for (let round = 0; round < 14; round++) {
      await new Promise((r) => setTimeout(r, 700));
      terminated += await terminateServiceConnections();
      if (round === 6) await p.produce('pg-late', 40);
    }
    expect(terminated).toBeGreaterThan(0); // the fault took
    await p.awaitTerminalWebhooks(160, 150_000);
    const report = await p.check();
    expect(report.violations, p.formatReport(report)).toEqual([]);
    expect(report.checked.requests).toBe(160);
  });
});
