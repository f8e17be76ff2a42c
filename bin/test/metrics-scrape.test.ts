import { execFileSync } from 'node:child_process';
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { defaultMetrics, metricDefinitions } from '../../infra/src/metrics-table.ts';
import { ensurePromtool } from '../../infra/src/promtool.ts';
import { type FaultPipeline, type Service, startFaultPipeline } from './faults/pipeline.ts';

const SERVICES: readonly Service[] = ['router', 'dispatcher', 'webhooks', 'audit', 'control'];
/** prom-client's gauges named like counters: promtool flags them, and they are not ours to rename. */
const ALLOWED_FINDING = /^nodejs_active_(handles|requests|resources)_total /;

/** `promtool check metrics` on a scrape: its findings, the allowed ones left out. */
function promtoolFindings(promtool: string, scrape: string): string[] {
  let output: string;
  try {
    output = execFileSync(promtool, ['check', 'metrics'], { input: scrape, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    if (e.status !== 3) throw error; // 3: findings; anything else: promtool itself failed
    output = `${e.stdout}${e.stderr}`;
  }
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !ALLOWED_FINDING.test(l));
}

/** Metric names (from `# TYPE`) and sample lines of a scrape. */
function parse(scrape: string): { types: Map<string, string>; samples: string[] } {
  const types = new Map<string, string>();
  const samples: string[] = [];
  for (const line of scrape.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) types.set(m[1]!, m[2]!);
    else if (line && !line.startsWith('#')) samples.push(line);
  }
  return { types, samples };
}

/** The value of the first sample of `name` whose labels include every `labels` pair. */
function value(samples: readonly string[], name: string, labels: Record<string, string> = {}): number {
  const line = samples.find(
    (s) =>
      (s.startsWith(`${name}{`) || s.startsWith(`${name} `)) &&
      Object.entries(labels).every(([k, v]) => s.includes(`${k}="${v}"`)),
  );
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

// Every service as `massivesms <service>` runs it, on real Kafka and PostgreSQL, after real traffic:
// each scrape passes promtool, carries the cell label and no personal data, and the exported names
// are exactly the ones docs/metrics.md lists (both ways).
describe('metrics of every service (promtool check metrics, docs/metrics.md)', () => {
  let p: FaultPipeline;
  let promtool = '';
  const scrapes = new Map<Service, string>();
  let ids: string[] = [];

  beforeAll(async () => {
    promtool = ensurePromtool();
    p = await startFaultPipeline({ also: ['audit', 'control'] });
    ids = await p.produce('metrics', 12);
    await p.awaitTerminalWebhooks(12, 90_000);
    for (const service of SERVICES) {
      await eventually(60_000, async () => {
        const ready = await fetch(`${p.opsUrl(service)}/readyz`).catch(() => undefined);
        expect(ready?.status, `${service} ready`).toBe(200);
      });
    }
    // The audit service verifies its ledger after a checkpoint (every 10 s by default).
    await eventually(60_000, async () => {
      const text = await (await fetch(`${p.opsUrl('audit')}/metrics`)).text();
      expect(
        value(parse(text).samples, 'audit_ledger_verifications_total', { outcome: 'ok' }),
      ).toBeGreaterThan(0);
    });
    for (const service of SERVICES) {
      const response = await fetch(`${p.opsUrl(service)}/metrics`);
      expect(response.status).toBe(200);
      scrapes.set(service, await response.text());
    }
  }, 300_000);
  afterAll(async () => {
    await p?.close();
  });

  it.each(SERVICES)('%s: promtool check metrics finds nothing', (service) => {
    onTestFailed(() => console.log(scrapes.get(service)));
    expect(promtoolFindings(promtool, scrapes.get(service)!)).toEqual([]);
  });

  it.each(SERVICES)('%s: every series has the cell label, and no number, id or URL appears', (service) => {
    const { samples } = parse(scrapes.get(service)!);
    for (const sample of samples) expect(sample).toContain('cell="us"');
    // The label sets of the samples (their values are numbers, which may well contain any digits).
    const text = samples.map((line) => /\{.*\}/.exec(line)?.[0] ?? '').join('\n');
    expect(text).not.toMatch(/\+1415|1415\d{7}|acme|solo|https?:|127\.0\.0\.1/);
    for (const id of ids) expect(text).not.toContain(id);
  });

  it('exports exactly the metrics docs/metrics.md lists', async () => {
    const defaults = new Set((await defaultMetrics()).map((m) => m.name));
    const defs = metricDefinitions();
    const byName = new Map(defs.map((d) => [d.name, d]));
    const seen = new Set<string>();
    for (const service of SERVICES) {
      const { types } = parse(scrapes.get(service)!);
      for (const [name, type] of types) {
        if (defaults.has(name)) continue;
        const def = byName.get(name);
        expect(def, `${service} exports ${name}, which docs/metrics.md does not list`).toBeDefined();
        expect(def!.type).toBe(type);
        expect([service, 'all'], `${name} is documented as ${def!.owner}'s`).toContain(def!.owner);
        seen.add(name);
      }
      for (const def of defs.filter((d) => d.owner === service))
        expect(types.has(def.name), `${service} does not export ${def.name}`).toBe(true);
    }
    for (const def of defs.filter((d) => d.owner === 'all'))
      expect(seen.has(def.name), `no service exports ${def.name}`).toBe(true);
  });

  it('counts what the traffic did', () => {
    const router = parse(scrapes.get('router')!).samples;
    expect(
      value(router, 'massivesms_consumer_records_total', {
        topic: p.topic('sms.requested.v1'),
        outcome: 'processed',
      }),
    ).toBe(12);
    expect(value(router, 'router_requests_total', { outcome: 'dispatched' })).toBe(12);
    const dispatcher = parse(scrapes.get('dispatcher')!).samples;
    expect(
      value(dispatcher, 'dispatcher_carrier_sends_total', { carrier: 'telnyx', class: 'accepted' }),
    ).toBe(12);
    expect(
      value(dispatcher, 'dispatcher_circuit_breaker_state', { carrier: 'telnyx', state: 'closed' }),
    ).toBe(1);
    expect(value(dispatcher, 'dispatcher_circuit_breaker_state', { carrier: 'telnyx', state: 'open' })).toBe(
      0,
    );
    // Lag per group and partition: everything consumed, so 0 on each of the 3 partitions.
    const lag = dispatcher.filter(
      (s) => s.startsWith('massivesms_consumer_lag_records{') && s.includes('sms.dispatch.v1'),
    );
    expect(lag).toHaveLength(3);
    for (const s of lag) expect(s).toMatch(/ 0$/);
    expect(value(dispatcher, 'massivesms_http_requests_total', { status_class: '2xx' })).toBeGreaterThan(0);
    const webhooks = parse(scrapes.get('webhooks')!).samples;
    expect(
      value(webhooks, 'webhooks_delivery_lag_seconds_count', { outcome: 'delivered' }),
    ).toBeGreaterThanOrEqual(12);
    expect(value(webhooks, 'webhooks_endpoints_disabled')).toBe(0);
    for (const service of SERVICES)
      expect(
        value(parse(scrapes.get(service)!).samples, 'massivesms_outbox_pending_records'),
        `${service} outbox`,
      ).toBeGreaterThanOrEqual(0);
  });
});
